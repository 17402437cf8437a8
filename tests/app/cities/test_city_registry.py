"""The city registry file: complete, correct codes, and validated strictly."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import yaml

from app.cities.registry import (
    DEFAULT_REGISTRY_PATH,
    RegistryError,
    load_regions,
    load_registry,
)
from contingency_plans.loader import load_regions as load_plan_regions

# The "2+26" cities of the Beijing–Tianjin–Hebei air-pollution transmission channel and
# their GB/T 2260 codes.
JJJ_2_26 = {
    "110000": "Beijing",
    "120000": "Tianjin",
    "130100": "Shijiazhuang",
    "130200": "Tangshan",
    "131000": "Langfang",
    "130600": "Baoding",
    "130900": "Cangzhou",
    "131100": "Hengshui",
    "130500": "Xingtai",
    "130400": "Handan",
    "140100": "Taiyuan",
    "140300": "Yangquan",
    "140400": "Changzhi",
    "140500": "Jincheng",
    "370100": "Jinan",
    "370300": "Zibo",
    "370800": "Jining",
    "371400": "Dezhou",
    "371500": "Liaocheng",
    "371600": "Binzhou",
    "371700": "Heze",
    "410100": "Zhengzhou",
    "410200": "Kaifeng",
    "410500": "Anyang",
    "410600": "Hebi",
    "410700": "Xinxiang",
    "410800": "Jiaozuo",
    "410900": "Puyang",
}
OTHERS = {
    "310000": ("Shanghai", "yrd"),
    "440100": ("Guangzhou", "prd"),
    "510100": ("Chengdu", "chengdu-chongqing"),
    "210100": ("Shenyang", "northeast"),
    "610100": ("Xi'an", "fenwei"),
    "420100": ("Wuhan", "middle-yangtze"),
}


def test_registry_has_every_required_city_with_its_code() -> None:
    by_code = {c.code: c for c in load_registry()}
    for code, name in JJJ_2_26.items():
        assert by_code[code].name_en == name
        assert "jjj-2+26" in by_code[code].regions
    for code, (name, region) in OTHERS.items():
        assert by_code[code].name_en == name
        assert region in by_code[code].regions
    members = [c.code for c in by_code.values() if "jjj-2+26" in c.regions]
    assert sorted(members) == sorted(JJJ_2_26)


@pytest.mark.parametrize(
    ("code", "name_zh", "province_en"),
    [
        ("110000", "北京市", "Beijing"),
        ("130100", "石家庄市", "Hebei"),
        ("140400", "长治市", "Shanxi"),
        ("371700", "菏泽市", "Shandong"),
        ("410900", "濮阳市", "Henan"),
        ("610100", "西安市", "Shaanxi"),
        ("440100", "广州市", "Guangdong"),
    ],
)
def test_sample_of_facts(code: str, name_zh: str, province_en: str) -> None:
    city = next(c for c in load_registry() if c.code == code)
    assert city.name_zh == name_zh
    assert city.province_en == province_en
    assert city.timezone == "Asia/Shanghai"


def test_every_member_of_every_shipped_region_is_a_registry_city() -> None:
    """The registry and contingency_plans/regions/*.yaml agree on who belongs where."""
    by_code = {c.code: c for c in load_registry()}
    registry_regions = {r.code for r in load_regions()}
    for region_id, region in load_plan_regions().items():
        assert region_id in registry_regions
        listed = {m.code for m in region.members}
        for member in region.members:
            assert member.code in by_code, f"{region_id}: {member.code} is not in the registry"
            city = by_code[member.code]
            assert region_id in city.regions, f"{city.name_en} does not list {region_id}"
            assert (city.name_zh, city.name_en) == (member.name_zh, member.name_en)
        in_registry = {c.code for c in by_code.values() if region_id in c.regions}
        assert in_registry == listed, f"{region_id}: registry and region file differ"


def test_region_sizes_and_the_two_taizhous() -> None:
    regions = load_plan_regions()
    assert {k: len(v.members) for k, v in regions.items()} == {
        "jjj-2+26": 28,
        "fenwei": 12,
        "yrd": 27,
    }
    by_code = {c.code: c for c in load_registry()}
    # Two cities share the English name Taizhou; the code and Chinese name tell them apart.
    assert (by_code["321200"].name_zh, by_code["321200"].province_en) == ("泰州市", "Jiangsu")
    assert (by_code["331000"].name_zh, by_code["331000"].province_en) == ("台州市", "Zhejiang")
    assert by_code["610403"].province_zh == "陕西省"


def test_code_prefix_agrees_with_province() -> None:
    """GB/T 2260: the first two digits are the province, so one province one prefix."""
    prefixes: dict[str, set[str]] = {}
    for city in load_registry():
        prefixes.setdefault(city.province_en, set()).add(city.code[:2])
    assert all(len(p) == 1 for p in prefixes.values()), prefixes


def test_every_region_is_named_and_used() -> None:
    regions = {r.code: r for r in load_regions()}
    used = {r for c in load_registry() for r in c.regions}
    assert used == set(regions)
    assert regions["jjj-2+26"].name_zh
    assert regions["fenwei"].name_en == "Fenwei Plain"


# Cities with no station of their own in the national list; their coordinates come from
# elsewhere, as a comment in registry.yaml says.
WITHOUT_STATIONS = {"610403"}  # Yangling


def test_city_centres_lie_among_their_stations(shared_data: Path) -> None:
    """Each centre is within 20 km of the centroid of the city's national stations."""
    with (shared_data / "knowair_meta" / "station_info.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for city in load_registry():
        own = [r for r in rows if r["area"] == city.short_name_zh]
        if city.code in WITHOUT_STATIONS:
            assert not own, f"{city.name_en} has stations now: take its centre from them"
            continue
        assert own, city.name_en
        lat = sum(float(r["lat"]) for r in own) / len(own)
        lon = sum(float(r["lon"]) for r in own) / len(own)
        km = math.hypot(
            (lat - city.lat) * 111.2, (lon - city.lon) * 111.2 * math.cos(math.radians(lat))
        )
        assert km < 20, f"{city.name_en}: centre {km:.1f} km from its stations"


def _write_variant(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load(DEFAULT_REGISTRY_PATH.read_text(encoding="utf-8"))
    raw["cities"][1] = {**raw["cities"][1], **changes}
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "12000"}, "6 digits"),
        ({"code": 120000}, "6 digits"),
        ({"lat": 91.0}, "cities.1.lat"),
        ({"lon": -181.0}, "cities.1.lon"),
        ({"timezone": "Asia/Beijing"}, "unknown IANA time zone"),
        ({"code": "110000"}, "duplicate city code 110000"),
        ({"regions": ["jjj-2+26", "atlantis"]}, "unknown region(s) atlantis"),
        ({"population": 1}, "cities.1.population"),
    ],
)
def test_invalid_registry_is_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistryError, match=r"registry\.yaml") as caught:
        load_registry(_write_variant(tmp_path, **changes))
    assert message in str(caught.value)


def test_unchanged_copy_of_registry_loads(tmp_path: Path) -> None:
    assert len(load_registry(_write_variant(tmp_path))) == len(load_registry())
