"""Herbie model templates of hazewarn, registered through Herbie's plugin entry point
(``herbie.plugins`` in pyproject.toml), Herbie's documented way to add a source.

``gfs_mirror``: Herbie's own GFS template, with one more source, ``mirror``, at the
``base_url`` given to `herbie.Herbie` (an extra keyword Herbie hands to templates), in the
NOAA publisher's layout (``gfs.YYYYMMDD/HH/atmos/gfs.tHHz.<product>.fFFF`` and its wgrib2
``.idx``): a mirror of NOMADS or the NODD buckets, or a local test publisher.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gfs_mirror"]


class gfs_mirror:
    """NOAA GFS (Herbie's template) plus a ``mirror`` source at ``base_url``."""

    def template(self: Any) -> None:
        from herbie.models.gfs import gfs

        gfs.template(self)
        base = getattr(self, "base_url", None)
        if base:
            # A mirror keeps today's layout whatever the date (Herbie's own template knows
            # NCEI's older archive layout for dates before 2021).
            self.PRODUCTS = {
                "pgrb2.0p25": "common fields, 0.25 degree resolution",
                "pgrb2.0p50": "common fields, 0.50 degree resolution",
                "pgrb2.1p00": "common fields, 1.00 degree resolution",
            }
            self.IDX_SUFFIX = [".idx"]
            root = (
                f"gfs.{self.date:%Y%m%d/%H}/atmos/gfs.t{self.date:%H}z.{self.product}"
                f".f{self.fxx:03d}"
            )
            self.SOURCES = {"mirror": f"{str(base).rstrip('/')}/{root}", **self.SOURCES}
