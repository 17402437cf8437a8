"""Who may call which route: the one table of expected answers, by caller.

Every route of the app has a line in ``ROUTE_RULES`` (``"METHOD /path": RULE``). A rule gives,
for each kind of caller (``Caller``), whether the request gets through (``OK``: the answer is
then whatever the data says, 2xx, 404, 409 or 422) or is refused with 401 or 403. The
authorization matrix test (tests/app/auth/test_access_matrix.py) calls every route as every
caller, checks each cell against this table, and fails for a route without a line; the
OpenAPI schema takes each route's 401/403/409 answers from here.

The callers are relative to the object a route acts on, which in the matrix belongs to
Beijing (110000, region jjj-2+26): a city office of that city and of another, a coordinator
of that region and of another, a revoked key and no key at all. Adding a route's rule is one
line here; a new kind of rule is one ``Rule(...)`` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ANY_KEY",
    "OPEN",
    "OWN_CITY_OFFICE",
    "PUBLIC",
    "REGION_COORDINATOR",
    "ROUTE_RULES",
    "STAFF",
    "STAFF_OR_OWNER",
    "Answer",
    "Caller",
    "Rule",
    "route_key",
]


class Caller(StrEnum):
    ANONYMOUS = "no key"
    REVOKED = "revoked key"
    ADMIN = "admin"
    DUTY_OFFICER = "duty officer"
    CITY_OWN = "city office, own city"
    CITY_OTHER = "city office, other city"
    REGION_OWN = "coordinator, own region"
    REGION_OTHER = "coordinator, other region"


class Answer(StrEnum):
    OK = "ok"  # let through: 2xx, or 404/409/422 as the data and body say
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"


KEYS = (
    Caller.ADMIN,
    Caller.DUTY_OFFICER,
    Caller.CITY_OWN,
    Caller.CITY_OTHER,
    Caller.REGION_OWN,
    Caller.REGION_OTHER,
)


@dataclass(frozen=True)
class Rule:
    """``allowed`` callers get through; other valid keys get 403, no key or a revoked key
    401. ``reads_key`` False: the route never looks at the key (a revoked one passes too).
    ``conflict``: the route may answer 409 (an action that does not fit the state)."""

    name: str
    allowed: frozenset[Caller]
    reads_key: bool = True
    conflict: bool = False
    expected: dict[Caller, Answer] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        table = {}
        for caller in Caller:
            if caller in self.allowed or not self.reads_key:
                table[caller] = Answer.OK
            elif caller in (Caller.ANONYMOUS, Caller.REVOKED):
                table[caller] = Answer.UNAUTHORIZED
            else:
                table[caller] = Answer.FORBIDDEN
        object.__setattr__(self, "expected", table)

    def may_refuse(self, answer: Answer) -> bool:
        return answer in self.expected.values()

    def conflicting(self) -> Rule:
        return Rule(self.name + ", may conflict", self.allowed, self.reads_key, conflict=True)


#: Anyone; the key is not even read.
PUBLIC = Rule("public", frozenset(Caller), reads_key=False)
#: Anyone; a key sent must be valid (it widens what is shown, e.g. proposals to staff).
OPEN = Rule("open", frozenset({Caller.ANONYMOUS, *KEYS}))
#: Any valid key.
ANY_KEY = Rule("any key", frozenset(KEYS))
#: Admins and duty officers.
STAFF = Rule("staff", frozenset({Caller.ADMIN, Caller.DUTY_OFFICER}))
#: The city office of the object's city only.
OWN_CITY_OFFICE = Rule("own city office", frozenset({Caller.CITY_OWN}))
#: Staff, and the key that owns the object (a city office of the object's city).
STAFF_OR_OWNER = Rule(
    "staff or owner", frozenset({Caller.ADMIN, Caller.DUTY_OFFICER, Caller.CITY_OWN})
)

#: A region's coordinator (the object's region) and admins.
REGION_COORDINATOR = Rule("own region coordinator", frozenset({Caller.ADMIN, Caller.REGION_OWN}))

#: Monitoring networks pushing observations: ``ingest`` keys (their own stations, checked by
#: the route) and admins. The matrix has no ingest caller; tests/app/observations covers it.
INGEST = Rule("ingest or admin", frozenset({Caller.ADMIN}))

ROUTE_RULES: dict[str, Rule] = {
    "GET /health": PUBLIC,
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /": PUBLIC,
    "GET /dashboard/static/{name}": PUBLIC,
    "GET /dashboard/meta.json": PUBLIC,
    "GET /dashboard/cities/{code}/observed.json": PUBLIC,
    "GET /v1/cities": PUBLIC,
    "GET /v1/cities/{code}": PUBLIC,
    "GET /v1/cities/{code}/aqi": PUBLIC,
    "GET /v1/cities/{code}/forecast": PUBLIC,
    "GET /v1/cities/{code}/skill": PUBLIC,
    "GET /v1/forecasts/latest": PUBLIC,
    "GET /v1/forecast-runs": PUBLIC,
    "GET /v1/forecast-runs/{run_id}": PUBLIC,
    "GET /v1/stations": PUBLIC,
    "GET /v1/stations/{station_id}": PUBLIC,
    "GET /v1/stations/{station_id}/observations": PUBLIC,
    "GET /v1/plans": PUBLIC,
    "GET /v1/plans/{city}": PUBLIC,
    "GET /v1/plans/{city}/actions": PUBLIC,
    "GET /v1/auth/me": ANY_KEY,
    "POST /v1/observations": INGEST,
    "POST /v1/subscriptions": ANY_KEY,
    "GET /v1/subscriptions": ANY_KEY,
    "GET /v1/subscriptions/health": STAFF,
    "GET /v1/subscriptions/{subscription_id}": STAFF_OR_OWNER,
    "PATCH /v1/subscriptions/{subscription_id}": STAFF_OR_OWNER,
    "DELETE /v1/subscriptions/{subscription_id}": STAFF_OR_OWNER,
    "POST /v1/subscriptions/{subscription_id}/rotate-secret": STAFF_OR_OWNER,
    "POST /v1/subscriptions/{subscription_id}/ping": STAFF_OR_OWNER.conflicting(),
    "GET /v1/subscriptions/{subscription_id}/deliveries": STAFF_OR_OWNER,
    "POST /v1/subscriptions/{subscription_id}/replay": STAFF_OR_OWNER.conflicting(),
    "GET /v1/warnings": OPEN,
    "GET /v1/warnings/unacknowledged": STAFF,
    "GET /v1/warnings/{warning_id}": OPEN,
    "GET /v1/proposals": STAFF,
    "POST /v1/proposals/{warning_id}/approve": STAFF.conflicting(),
    "POST /v1/proposals/{warning_id}/reject": STAFF.conflicting(),
    "POST /v1/warnings/{warning_id}/upgrade": STAFF.conflicting(),
    "POST /v1/warnings/{warning_id}/downgrade": STAFF.conflicting(),
    "POST /v1/warnings/{warning_id}/extend": STAFF.conflicting(),
    "POST /v1/warnings/{warning_id}/lift": STAFF.conflicting(),
    "POST /v1/warnings/{warning_id}/ack": OWN_CITY_OFFICE.conflicting(),
    "GET /v1/cap/{warning_id}.xml": OPEN,
    "GET /v1/feeds/cap.atom": PUBLIC,
    "GET /v1/rankings/monthly": PUBLIC,
    "GET /v1/regions": PUBLIC,
    "GET /v1/regions/{region_id}": PUBLIC,
    "GET /v1/regional-warnings": OPEN,
    "GET /v1/regional-warnings/{warning_id}": OPEN,
    "GET /v1/cap/regional/{warning_id}.xml": OPEN,
    "POST /v1/regional-warnings": REGION_COORDINATOR,
    "POST /v1/regional-warnings/{warning_id}/approve": REGION_COORDINATOR.conflicting(),
    "POST /v1/regional-warnings/{warning_id}/reject": REGION_COORDINATOR.conflicting(),
    "POST /v1/regional-warnings/{warning_id}/adjust": REGION_COORDINATOR.conflicting(),
    "POST /v1/regional-warnings/{warning_id}/extend": REGION_COORDINATOR.conflicting(),
    "POST /v1/regional-warnings/{warning_id}/lift": REGION_COORDINATOR.conflicting(),
}


def route_key(method: str, path: str) -> str:
    return f"{method.upper()} {path}"
