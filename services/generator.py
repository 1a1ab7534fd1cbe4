"""Synthetic matching instances that look like a Hong Kong school year (2026-27).

`generate(students, schools, seed)` is deterministic for a seed: every draw comes from one
`numpy.random.default_rng(seed)`, taken in a fixed order. Models are built with
`model_construct` (the values are valid by construction), so 150,000 students take seconds; the
output still validates when re-loaded with `Instance.model_validate_json`.

What makes the data realistic enough to stress the matcher:
- Offer capacity by kind: L1 about 1.5x the students, L2+L3 about 0.9x, so Benchmark 8 coverage
  is contested; healthcare and IT are wanted more than they are offered.
- Popularity is Zipf-like per provider, so the best offers are heavily oversubscribed.
- Students rank mostly offers in their interest sectors, near their school and that they are
  eligible for, with a few ineligible ones, as real students do.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from matching.eligibility import is_eligible
from schemas import (
    AttendedEncounter,
    Form,
    Instance,
    Insurance,
    Offer,
    OfferKind,
    Period,
    PreferenceList,
    Prerequisites,
    RoundRules,
    Session,
    Student,
)
from schemas.common import ELECTIVES, Sector
from services import generator_data as data

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rng = np.random.Generator
T = TypeVar("T")

KINDS: tuple[OfferKind, ...] = tuple(OfferKind)
N_SECTORS = len(data.SECTORS)
N_DISTRICTS = len(data.DISTRICTS)
ELECTIVE_BIT = {name: 1 << i for i, name in enumerate(ELECTIVES)}


@dataclass(frozen=True)
class KindSpec:
    capacity_per_student: float  # total capacity of this kind per student in the instance
    capacities: Sequence[int]  # possible capacities of one offer ...
    capacity_p: Sequence[float] | None  # ... and their probabilities (None: uniform)
    prerequisite_p: float  # share of offers with prerequisites


KIND_SPECS: dict[OfferKind, KindSpec] = {
    OfferKind.WORKPLACE_L1: KindSpec(1.5, range(15, 41), None, 0.10),
    OfferKind.WORKPLACE_L2: KindSpec(0.81, range(2, 7), (0.1, 0.15, 0.25, 0.25, 0.25), 0.30),
    OfferKind.WORKPLACE_L3: KindSpec(0.09, range(1, 4), (0.3, 0.4, 0.3), 0.55),
    OfferKind.FE_VISIT: KindSpec(1.1, range(30, 121), None, 0.15),
    OfferKind.FE_INTERACTION: KindSpec(0.9, range(20, 81), None, 0.10),
}


@dataclass(frozen=True)
class RankGroup:
    """Offers a student ranks together: how many, how far they travel, where in the list."""

    kinds: tuple[OfferKind, ...]
    picks: tuple[int, ...]  # a student ranks one of these counts, uniformly
    travel_km: float  # distance at which an offer's appeal falls by a factor e
    bias: float  # added to the position in the group when merging groups into one list


RANK_GROUPS = (
    RankGroup((OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3), (3, 4), 8.0, -0.4),
    RankGroup((OfferKind.WORKPLACE_L1,), (3,), 8.0, 0.0),
    RankGroup((OfferKind.FE_VISIT,), (1, 2), 15.0, 0.3),
    RankGroup((OfferKind.FE_INTERACTION,), (1,), 15.0, 0.6),
)
NO_RANKING_P = 0.05  # students who rank nothing
KEEP_INELIGIBLE_P = 0.15  # chance a student keeps an offer they do not qualify for
PROVIDER_ZIPF = 0.7  # popularity of the provider ranked r is r ** -PROVIDER_ZIPF
CHUNK = 4096  # students per vectorised block when drawing preferences


def generate(students: int, schools: int, seed: int) -> Instance:
    """A synthetic round for `students` spread over `schools`, deterministic for `seed`."""
    if students < 1 or schools < 1:
        raise ValueError(f"need at least one student and one school, got {students}, {schools}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng(seed)
    calendar = Calendar.build()
    school_ids, school_districts = _schools(rng, schools)
    population = _students(rng, students, school_ids, school_districts, calendar)
    offers = _offers(rng, students, calendar)
    rules = _rules(rng, sorted({s.school_id for s in population.models}))
    preferences = _preferences(rng, population, offers, rules.max_ranks)
    return Instance.model_construct(
        round_id=f"synthetic-2026-27-seed-{seed}",
        students=tuple(population.models),
        offers=tuple(offers.models),
        preferences=tuple(preferences),
        rules=rules,
    )


# --- calendar ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    term_blocks: tuple[tuple[dt.date, ...], ...]  # working days of each run of term weeks
    holiday_blocks: tuple[tuple[dt.date, ...], ...]  # working days of each placement holiday
    holiday_share: tuple[float, ...]
    term_days: tuple[dt.date, ...]
    term_saturdays: tuple[dt.date, ...]
    previous_year_days: tuple[dt.date, ...]

    @classmethod
    def build(cls) -> Calendar:
        blocks: list[list[dt.date]] = [[]]
        saturdays: list[dt.date] = []
        for day in _days(*data.TERM):
            if any(lo <= day <= hi for lo, hi in data.SCHOOL_HOLIDAYS):
                if blocks[-1]:
                    blocks.append([])
            elif _working(day):
                blocks[-1].append(day)
            elif day.weekday() == 5 and day not in data.PUBLIC_HOLIDAYS:
                saturdays.append(day)
        term_blocks = tuple(tuple(b) for b in blocks if b)
        return cls(
            term_blocks=term_blocks,
            holiday_blocks=tuple(
                tuple(d for d in _days(*span) if _working(d)) for span, _ in data.PLACEMENT_HOLIDAYS
            ),
            holiday_share=tuple(share for _, share in data.PLACEMENT_HOLIDAYS),
            term_days=tuple(d for b in term_blocks for d in b),
            term_saturdays=tuple(saturdays),
            previous_year_days=tuple(d for d in _days(*data.PREVIOUS_YEAR) if d.weekday() < 5),
        )

    def run(self, rng: Rng, holiday: bool, days: int) -> tuple[dt.date, ...]:
        """`days` consecutive working days inside one holiday (or one run of term weeks)."""
        if holiday:
            block = self.holiday_blocks[rng.choice(len(self.holiday_blocks), p=self.holiday_share)]
        else:
            sizes = np.array([len(b) for b in self.term_blocks], dtype=np.float64)
            block = self.term_blocks[rng.choice(len(self.term_blocks), p=sizes / sizes.sum())]
        start = int(rng.integers(0, len(block) - days + 1))
        return block[start : start + days]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _working(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in data.PUBLIC_HOLIDAYS


# --- schools and students ------------------------------------------------------------------------


def _schools(rng: Rng, n: int) -> tuple[list[str], Ints]:
    """School ids and districts: every district gets a school before any gets a second."""
    population = np.array([data.DISTRICT_FACTS[d][2] for d in data.DISTRICTS], dtype=np.float64)
    p = population / population.sum()
    if n <= N_DISTRICTS:
        districts = rng.choice(N_DISTRICTS, n, replace=False, p=p)
    else:
        districts = np.concatenate(
            [rng.permutation(N_DISTRICTS), rng.choice(N_DISTRICTS, n - N_DISTRICTS, p=p)]
        )
    width = max(3, len(str(n)))
    return [f"sch-{i + 1:0{width}d}" for i in range(n)], districts.astype(np.int64)


@dataclass(frozen=True)
class Population:
    """The students, and the arrays the preference draw needs about them."""

    models: list[Student]
    district: Ints  # of the student's school
    interest: Floats  # (students, sectors): how much each sector appeals
    subjects: Ints  # bit mask over ELECTIVES
    form: Ints  # 4, 5 or 6
    dob_year: Ints
    dob_mmdd: Ints  # month * 100 + day
    band: Ints  # 1..3, or 9 when unknown (fails any band requirement)


def _students(
    rng: Rng, n: int, school_ids: list[str], school_districts: Ints, calendar: Calendar
) -> Population:
    size = rng.uniform(0.6, 1.4, len(school_ids))
    school = np.repeat(np.arange(len(school_ids)), rng.multinomial(n, size / size.sum()))
    form = rng.choice(3, n, p=[0.34, 0.33, 0.33]) + 4
    interest = _interests(rng, n)
    subject_idx, subject_count = _subjects(rng, interest)
    band = rng.choice(np.array([1, 2, 3, 9]), n, p=[0.3, 0.35, 0.25, 0.1])
    # Born 1 Sep - 31 Aug for the form; a few S4/S5 repeaters are a year older. Ages 15-18.
    start = np.array([dt.date(2014 - f, 9, 1).toordinal() for f in range(7)])[form]
    repeater = (form < 6) & (rng.random(n) < 0.04)
    dob_ord = start - 365 * repeater + rng.integers(0, 365, n)
    consent = rng.random(n) < 0.95
    priority = rng.random(n) < 0.05
    attended = _attended(rng, form, calendar.previous_year_days)
    names = _student_names(rng, n)

    dobs = [dt.date.fromordinal(o) for o in dob_ord.tolist()]
    forms = {4: Form.S4, 5: Form.S5, 6: Form.S6}
    width = max(6, len(str(n)))
    models = [
        Student.model_construct(
            student_id=f"stu-{i + 1:0{width}d}",
            school_id=school_ids[sc],
            form=forms[fo],
            date_of_birth=dobs[i],
            subjects=frozenset(ELECTIVES[j] for j in subj[:k]),
            interests=tuple(data.SECTORS[j] for j in order[:k_int]),
            academic_band=None if b == 9 else b,
            parental_consent=c,
            priority=pr,
            attended=attended.get(i, ()),
            name=names[i],
        )
        for i, (sc, fo, subj, k, order, k_int, b, c, pr) in enumerate(
            zip(
                school.tolist(),
                form.tolist(),
                subject_idx.tolist(),
                subject_count.tolist(),
                np.argsort(-interest, axis=1, kind="stable").tolist(),
                (interest > 0.1).sum(axis=1).tolist(),
                band.tolist(),
                consent.tolist(),
                priority.tolist(),
                strict=True,
            )
        )
    ]
    bits = np.array([1 << i for i in range(len(ELECTIVES))], dtype=np.int64)
    mask = np.zeros(n, dtype=np.int64)
    for j in range(subject_idx.shape[1]):
        mask |= np.where(j < subject_count, bits[subject_idx[:, j]], 0)
    return Population(
        models=models,
        district=school_districts[school],
        interest=interest,
        subjects=mask,
        form=form.astype(np.int64),
        dob_year=np.array([d.year for d in dobs], dtype=np.int64),
        dob_mmdd=np.array([d.month * 100 + d.day for d in dobs], dtype=np.int64),
        band=band.astype(np.int64),
    )


def _interests(rng: Rng, n: int) -> Floats:
    """1-3 interest sectors per student, strongest first (1.0, 0.6, 0.4); others get 0.03."""
    demand = np.array([data.SECTOR_DEMAND[s] for s in data.SECTORS])
    keys = np.log(demand) + rng.gumbel(size=(n, N_SECTORS))
    order = np.argsort(-keys, axis=1)
    count = rng.choice(np.array([1, 2, 3]), n, p=[0.3, 0.45, 0.25])
    interest = np.full((n, N_SECTORS), 0.03)
    rows = np.arange(n)
    for j, strength in enumerate((1.0, 0.6, 0.4)):
        chosen = count > j
        interest[rows[chosen], order[chosen, j]] = strength
    return interest


def _subjects(rng: Rng, interest: Floats) -> tuple[Ints, Ints]:
    """Indices into ELECTIVES, best first, and how many (2 or 3) each student takes."""
    affinity = np.zeros((N_SECTORS, len(ELECTIVES)))
    for s, sector in enumerate(data.SECTORS):
        for rank, name in enumerate(data.SECTOR_ELECTIVES[sector]):
            affinity[s, ELECTIVES.index(name)] = 1.0 - 0.2 * rank
    weight = 0.15 + np.where(interest > 0.1, interest, 0.0) @ affinity
    keys = np.log(weight) + rng.gumbel(size=weight.shape)
    # M1 and M2 are alternatives: nobody takes both.
    m1 = rng.random(len(keys)) < 0.5
    keys[m1, ELECTIVES.index("m2")] = -np.inf
    keys[~m1, ELECTIVES.index("m1")] = -np.inf
    chosen = np.argsort(-keys, axis=1)[:, :3].astype(np.int64)
    return chosen, rng.choice(np.array([2, 3]), len(keys), p=[0.35, 0.65]).astype(np.int64)


def _attended(
    rng: Rng, form: Ints, calendar_days: Sequence[dt.date]
) -> dict[int, tuple[AttendedEncounter, ...]]:
    """Encounters S5/S6 students had last year: L1 30%, L2/L3 8%, FE visit 10%, FE talk 5%."""
    senior = form >= 5
    draws = rng.random((len(form), 4)) < np.array([0.30, 0.08, 0.10, 0.05])
    draws &= senior[:, None]
    l3 = rng.random(len(form)) < 0.3
    day = rng.integers(0, len(calendar_days), (len(form), 4))
    debriefed = rng.random((len(form), 4)) < 0.75
    out: dict[int, tuple[AttendedEncounter, ...]] = {}
    for i in np.flatnonzero(draws.any(axis=1)).tolist():
        kinds = (
            OfferKind.WORKPLACE_L1,
            OfferKind.WORKPLACE_L3 if l3[i] else OfferKind.WORKPLACE_L2,
            OfferKind.FE_VISIT,
            OfferKind.FE_INTERACTION,
        )
        out[i] = tuple(
            AttendedEncounter.model_construct(
                kind=kinds[j], date=calendar_days[day[i, j]], debriefed=bool(debriefed[i, j])
            )
            for j in range(4)
            if draws[i, j]
        )
    return out


def _student_names(rng: Rng, n: int) -> list[str]:
    surname = rng.integers(0, len(data.SURNAMES), n).tolist()
    given = rng.integers(0, len(data.GIVEN_SYLLABLES), (n, 2)).tolist()
    english = rng.integers(0, len(data.ENGLISH_NAMES), n).tolist()
    has_english = (rng.random(n) < 0.35).tolist()
    names = []
    for s, (g1, g2), e, he in zip(surname, given, english, has_english, strict=True):
        first = f"{data.ENGLISH_NAMES[e]} " if he else ""
        given_name = f"{data.GIVEN_SYLLABLES[g1]}-{data.GIVEN_SYLLABLES[g2].lower()}"
        names.append(f"{first}{data.SURNAMES[s]} {given_name}")
    return names


# --- offers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTable:
    """The offers, and the arrays the preference draw needs about them."""

    models: list[Offer]
    kind: Ints  # index into KINDS
    cell: Ints  # sector * N_DISTRICTS + district
    weight: Floats  # popularity
    required: Ints  # bit mask of required electives
    min_form: Ints  # 0 when none
    min_age: Ints  # 0 when none
    max_band: Ints  # 9 when none
    first_year: Ints
    first_mmdd: Ints


@dataclass(frozen=True)
class Providers:
    ids: list[str]
    names: list[str]
    sector: Ints
    district: Ints
    prestige: Floats


def _offers(rng: Rng, n_students: int, calendar: Calendar) -> OfferTable:
    kind_parts, capacity_parts = [], []
    for k, spec in enumerate(KIND_SPECS[kind] for kind in KINDS):
        caps = _capacities(rng, spec, spec.capacity_per_student * n_students)
        kind_parts.append(np.full(len(caps), k))
        capacity_parts.append(caps)
    order = rng.permutation(sum(len(c) for c in capacity_parts))
    kind = np.concatenate(kind_parts)[order]
    capacity = np.concatenate(capacity_parts)[order]
    workplace = kind < 3
    companies = _providers(rng, math.ceil(workplace.sum() / 2.5), fe=False)
    institutions = _providers(rng, math.ceil((~workplace).sum() / 8), fe=True)
    insurers = _insurers(rng)
    n = len(kind)
    # Per-offer draws, vectorised: a workplace offer takes its provider's sector and (unless it
    # is at a branch) district; an institution runs events for any sector on its campus.
    company = rng.choice(len(companies.ids), n, p=_normalised(np.sqrt(companies.prestige)))
    institution = rng.choice(
        len(institutions.ids), n, p=_normalised(np.sqrt(institutions.prestige))
    )
    fe_sector = rng.choice(
        N_SECTORS, n, p=_normalised([data.SECTOR_DEMAND[s] for s in data.SECTORS])
    )
    branch = rng.choice(
        N_DISTRICTS, n, p=_normalised([data.DISTRICT_FACTS[d][3] for d in data.DISTRICTS])
    )
    at_branch = rng.random(n) < 0.15
    popularity = np.where(
        workplace, companies.prestige[company], institutions.prestige[institution]
    )
    weight = popularity * rng.lognormal(0.0, 0.4, n)
    sector = np.where(workplace, companies.sector[company], fe_sector)
    district = np.where(
        workplace,
        np.where(at_branch, branch, companies.district[company]),
        institutions.district[institution],
    )
    flags = rng.random((n, 2)) < np.array([0.3, 0.8])  # L3: interview, teacher's pre-visit done
    teachers = rng.integers(1, 4, n)

    width = max(5, len(str(n)))
    models: list[Offer] = []
    first = np.zeros((n, 2), dtype=np.int64)
    gates = np.zeros((n, 4), dtype=np.int64)  # required, min_form, min_age, max_band
    rows = zip(
        kind.tolist(),
        capacity.tolist(),
        np.where(workplace, company, institution).tolist(),
        sector.tolist(),
        district.tolist(),
        flags.tolist(),
        teachers.tolist(),
        strict=True,
    )
    for i, (k, cap, p, sec, dis, (interview, previsit), n_teachers) in enumerate(rows):
        offer_kind = KINDS[k]
        providers = companies if offer_kind.is_workplace else institutions
        l3 = offer_kind is OfferKind.WORKPLACE_L3
        period, sessions = _schedule(rng, offer_kind, calendar)
        prerequisites = _prerequisites(rng, offer_kind, sec)
        models.append(
            Offer.model_construct(
                offer_id=f"off-{i + 1:0{width}d}",
                provider_id=providers.ids[p],
                provider_name=providers.names[p],
                title=_title(rng, offer_kind, sec, sessions),
                kind=offer_kind,
                sector=data.SECTORS[sec],
                district=data.DISTRICTS[dis],
                period=period,
                sessions=sessions,
                capacity=cap,
                prerequisites=prerequisites,
                requires_interview=l3 and interview,
                insurance=(
                    _insurance(rng, insurers, sessions) if offer_kind.needs_insurance else None
                ),
                teacher_previsit_done=l3 and previsit,
                accompanying_teachers=(
                    n_teachers if offer_kind in (OfferKind.WORKPLACE_L1, OfferKind.FE_VISIT) else 0
                ),
            )
        )
        day = sessions[0].date
        first[i] = (day.year, day.month * 100 + day.day)
        gates[i] = (
            sum(ELECTIVE_BIT[s] for s in prerequisites.required_subjects),
            prerequisites.min_form.number if prerequisites.min_form else 0,
            prerequisites.min_age or 0,
            prerequisites.max_band or 9,
        )
    return OfferTable(
        models=models,
        kind=kind.astype(np.int64),
        cell=(sector * N_DISTRICTS + district).astype(np.int64),
        weight=weight.astype(np.float64),
        required=gates[:, 0],
        min_form=gates[:, 1],
        min_age=gates[:, 2],
        max_band=gates[:, 3],
        first_year=first[:, 0],
        first_mmdd=first[:, 1],
    )


def _normalised(values: Sequence[float] | Floats) -> Floats:
    a = np.asarray(values, dtype=np.float64)
    out: Floats = a / a.sum()
    return out


def _capacities(rng: Rng, spec: KindSpec, target: float) -> Ints:
    """Offer capacities drawn until they add up to `target` (at least one offer)."""
    values = np.array(spec.capacities)
    mean = float(values.mean() if spec.capacity_p is None else values @ spec.capacity_p)
    caps = rng.choice(values, math.ceil(2 * target / mean) + 4, p=spec.capacity_p)
    enough = int(np.searchsorted(np.cumsum(caps), target)) + 1
    return caps[: max(1, enough)].astype(np.int64)


def _providers(rng: Rng, n: int, fe: bool) -> Providers:
    n = max(n, 2)
    if fe:
        share = _normalised([data.FE_DISTRICT_WEIGHT.get(d, 0.2) for d in data.DISTRICTS])
        sector = np.zeros(n, dtype=np.int64)  # institutions teach every sector
    else:
        share = _normalised([data.DISTRICT_FACTS[d][3] for d in data.DISTRICTS])
        supply = _normalised([data.SECTOR_SUPPLY[s] for s in data.SECTORS])
        sector = rng.choice(N_SECTORS, n, p=supply).astype(np.int64)
    district = rng.choice(N_DISTRICTS, n, p=share).astype(np.int64)
    prestige = (rng.permutation(n) + 1.0).astype(np.float64) ** -PROVIDER_ZIPF
    taken: set[str] = set()
    names = []
    for i in range(n):
        names.append(
            _unique_name(_provider_name(rng, fe, data.SECTORS[sector[i]]), district[i], taken)
        )
    prefix = "ins" if fe else "prv"
    width = max(4, len(str(n)))
    ids = [f"{prefix}-{i + 1:0{width}d}" for i in range(n)]
    return Providers(ids, names, sector, district, prestige)


def _unique_name(name: str, district: int, taken: set[str]) -> str:
    """The same words drawn twice: the second is a branch, named by its district."""
    label = data.DISTRICTS[district].value.replace("_", " ").title()
    candidate, branch = name, 1
    while candidate in taken:
        candidate = f"{name} ({label})" if branch == 1 else f"{name} ({label} {branch})"
        branch += 1
    taken.add(candidate)
    return candidate


def _provider_name(rng: Rng, fe: bool, sector: Sector) -> str:
    place = _pick(rng, data.PLACES)
    if fe:
        pattern = _pick(rng, data.INSTITUTION_PATTERNS)
        return pattern.format(place=place)
    nouns = data.SECTOR_NOUNS[sector]
    noun = _pick(rng, nouns)
    if rng.random() < 0.6:
        a, b = rng.choice(len(data.HK_SYLLABLES), 2, replace=False)
        stem = f"{data.HK_SYLLABLES[a]} {data.HK_SYLLABLES[b]}"
    else:
        stem = place
    if noun.endswith(data.NO_SUFFIX_ENDINGS):
        return f"{stem} {noun}"
    suffix = _pick(rng, data.COMPANY_SUFFIXES)
    return f"{stem} {noun} {suffix}"


def _schedule(rng: Rng, kind: OfferKind, calendar: Calendar) -> tuple[Period, tuple[Session, ...]]:
    """When an offer runs, following how schools and providers schedule each kind."""
    holiday = False
    days: tuple[dt.date, ...]
    hours: tuple[tuple[dt.time, dt.time], ...]
    if kind is OfferKind.WORKPLACE_L1:  # one half-day visit in term time
        days = (_pick(rng, calendar.term_days),)
        hours = data.L1_HOURS
    elif kind is OfferKind.WORKPLACE_L2:  # 1-3 days, mostly in the holidays
        holiday = bool(rng.random() < 0.75)
        days = calendar.run(rng, holiday, int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25])))
        hours = data.L2_HOURS
    elif kind is OfferKind.WORKPLACE_L3:  # 3-5 working days in the holidays
        holiday = True
        days = calendar.run(rng, holiday, int(rng.choice([3, 4, 5], p=[0.3, 0.2, 0.5])))
        hours = data.L3_HOURS
    elif kind is OfferKind.FE_VISIT:  # information days are on Saturdays
        days = (_pick(rng, calendar.term_saturdays),)
        hours = data.FE_VISIT_HOURS
    else:  # talks after school
        days = (_pick(rng, calendar.term_days),)
        hours = data.FE_INTERACTION_HOURS
    start, end = _pick(rng, hours)
    sessions = tuple(Session.model_construct(date=d, start=start, end=end) for d in days)
    return (Period.HOLIDAY if holiday else Period.TERM), sessions


NO_PREREQUISITES = Prerequisites()


def _prerequisites(rng: Rng, kind: OfferKind, sector: int) -> Prerequisites:
    """Some offers ask for subjects matching their sector, S5 or above, age 16, a good band."""
    if rng.random() >= KIND_SPECS[kind].prerequisite_p:
        return NO_PREREQUISITES
    parts = rng.random(4) < np.array([0.6, 0.35, 0.3, 0.3])
    parts[0] |= not parts.any()
    core = data.SECTOR_ELECTIVES[data.SECTORS[sector]][:2]
    both = rng.random() < 0.2
    subjects = frozenset(core if both else (core[rng.integers(2)],)) if parts[0] else frozenset()
    return Prerequisites.model_construct(
        required_subjects=subjects,
        min_form=Form.S5 if parts[1] else None,
        min_age=16 if parts[2] else None,
        max_band=int(rng.choice([1, 2], p=[0.4, 0.6])) if parts[3] else None,
    )


def _insurers(rng: Rng) -> list[tuple[str, str]]:
    """A dozen made-up insurers: (name, policy number prefix)."""
    taken: set[str] = set()
    insurers: list[tuple[str, str]] = []
    while len(insurers) < 12:
        a, b = rng.choice(len(data.HK_SYLLABLES), 2, replace=False)
        pattern = _pick(rng, data.INSURER_PATTERNS)
        name = pattern.format(
            place=_pick(rng, data.PLACES),
            a=data.HK_SYLLABLES[a],
            b=data.HK_SYLLABLES[b],
        )
        if name not in taken:
            taken.add(name)
            prefix = "".join(w[0] for w in name.split() if w[0].isupper())[:3]
            insurers.append((name, prefix))
    return insurers


def _insurance(
    rng: Rng, insurers: list[tuple[str, str]], sessions: tuple[Session, ...]
) -> Insurance | None:
    """Cover over every session, except ~4% that expire before the last one and ~2% missing."""
    u = rng.random()
    if u < 0.02:
        return None
    last = sessions[-1].date
    valid_from = dt.date(2026, 8, 1) - dt.timedelta(days=int(rng.integers(0, 180)))
    if u < 0.06:  # lapses before the last session (still after it started, at the earliest)
        expires = max(
            valid_from + dt.timedelta(days=30), last - dt.timedelta(int(rng.integers(1, 46)))
        )
    else:
        expires = last + dt.timedelta(days=int(rng.integers(1, 240)))
    name, prefix = _pick(rng, insurers)
    return Insurance.model_construct(
        insurer=name,
        policy_number=f"{prefix}-{valid_from:%y}{int(rng.integers(100_000, 1_000_000))}",
        valid_from=valid_from,
        expires=expires,
    )


def _title(rng: Rng, kind: OfferKind, sector: int, sessions: tuple[Session, ...]) -> str:
    roles, programme = data.SECTOR_ROLES[data.SECTORS[sector]]
    role = _pick(rng, roles)
    if kind is OfferKind.WORKPLACE_L1:
        return f"{_pick(rng, data.L1_ACTIVITIES)} with our {role}s"
    if kind is OfferKind.WORKPLACE_L2:
        return f"{_pick(rng, data.L2_ACTIVITIES)}: {role}"
    if kind is OfferKind.WORKPLACE_L3:
        summer = sessions[0].date >= data.SUMMER[0]
        return f"{'Summer internship' if summer else _pick(rng, data.L3_ACTIVITIES)}: {role}"
    if kind is OfferKind.FE_VISIT:
        return f"{_pick(rng, data.FE_VISIT_ACTIVITIES)}: {programme}"
    return f"{_pick(rng, data.FE_INTERACTION_ACTIVITIES)}: {programme}"


def _pick(rng: Rng, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


# --- preferences ---------------------------------------------------------------------------------


def _preferences(
    rng: Rng, population: Population, offers: OfferTable, max_ranks: int
) -> list[PreferenceList]:
    """Each student's ranked list: the rank groups' picks merged, at most `max_ranks` long."""
    n = len(population.models)
    chosen, keys = [], []
    for group in RANK_GROUPS:
        picks = rng.choice(np.array(group.picks), n)
        group_chosen = _rank_group(rng, population, offers, group, picks)
        position = np.arange(group_chosen.shape[1]) + group.bias
        noise = rng.random(group_chosen.shape) * 1.2  # how groups interleave varies by student
        chosen.append(group_chosen)
        keys.append(np.where(group_chosen >= 0, position + noise, np.inf))
    order = np.argsort(np.hstack(keys), axis=1, kind="stable")
    ranked = np.take_along_axis(np.hstack(chosen), order, axis=1)[:, :max_ranks]
    silent = (rng.random(n) < NO_RANKING_P).tolist()
    minutes = rng.integers(0, 21 * 24 * 60, n).tolist()  # a three-week window
    offer_ids = [o.offer_id for o in offers.models]
    lists = []
    for student, row, quiet, minute in zip(
        population.models, ranked.tolist(), silent, minutes, strict=True
    ):
        ranked_ids = tuple(offer_ids[j] for j in row if j >= 0)
        if quiet or not ranked_ids:
            continue
        lists.append(
            PreferenceList.model_construct(
                student_id=student.student_id,
                ranked=ranked_ids,
                submitted_at=data.PREFERENCE_WINDOW_START + dt.timedelta(minutes=minute),
            )
        )
    return lists


def _rank_group(
    rng: Rng, population: Population, offers: OfferTable, group: RankGroup, picks: Ints
) -> Ints:
    """(students, max picks) offer indices, best first, -1 padded.

    A student's ranking is Plackett-Luce: draws with replacement in proportion to appeal, first
    occurrences kept. Appeal = interest in the offer's sector x nearness x popularity. It is drawn
    in two stages, a (sector, district) cell and then an offer in it, so no student x offer matrix
    is ever built.
    """
    n = len(population.models)
    out = np.full((n, max(group.picks)), -1, dtype=np.int64)
    members = np.flatnonzero(np.isin(offers.kind, [KINDS.index(k) for k in group.kinds]))
    if len(members) == 0:
        return out
    members = members[np.argsort(offers.cell[members], kind="stable")]
    cells = offers.cell[members]
    wcum = np.cumsum(offers.weight[members])
    n_cells = N_SECTORS * N_DISTRICTS
    lo = np.searchsorted(cells, np.arange(n_cells), side="left")
    hi = np.searchsorted(cells, np.arange(n_cells), side="right")
    cell_pop = np.bincount(cells, weights=offers.weight[members], minlength=n_cells)
    cell_base = np.concatenate([[0.0], wcum])[lo]
    cell_sector, cell_district = np.divmod(np.arange(n_cells), N_DISTRICTS)
    nearness = np.exp(-_district_km() / group.travel_km) + 0.03
    draws = 4 * max(group.picks) + 4
    for start in range(0, n, CHUNK):
        rows = slice(start, min(n, start + CHUNK))
        c = rows.stop - rows.start
        appeal = (
            population.interest[rows][:, cell_sector]
            * nearness[population.district[rows]][:, cell_district]
            * cell_pop
        )
        cum = np.cumsum(appeal, axis=1)
        row_offset = np.arange(c)[:, None]
        flat = (cum / cum[:, -1:] + row_offset).ravel()
        u = rng.random((c, draws)) + row_offset
        cell = (
            np.searchsorted(flat, u.ravel(), side="right").reshape(c, draws) - row_offset * n_cells
        )
        cell = np.clip(cell, 0, n_cells - 1)
        target = cell_base[cell] + rng.random((c, draws)) * cell_pop[cell]
        pos = np.clip(np.searchsorted(wcum, target, side="right"), lo[cell], hi[cell] - 1)
        candidate = members[np.clip(pos, 0, len(members) - 1)]
        keep = _eligible(population, offers, rows, candidate)
        keep |= rng.random((c, draws)) < KEEP_INELIGIBLE_P
        keep &= cell_pop[cell] > 0  # guards against a float edge landing in an empty cell
        keep &= _first_occurrences(np.where(keep, candidate, -1))
        rank = np.cumsum(keep, axis=1)
        take = keep & (rank <= picks[rows, None])
        r, col = np.nonzero(take)
        out[start + r, rank[r, col] - 1] = candidate[r, col]
    return out


def _eligible(population: Population, offers: OfferTable, rows: slice, offer: Ints) -> Bools:
    """Whether each student in `rows` meets the prerequisites of `offer` (same shape)."""
    subjects = population.subjects[rows, None]
    age = (
        offers.first_year[offer]
        - population.dob_year[rows, None]
        - (offers.first_mmdd[offer] < population.dob_mmdd[rows, None])
    )
    ok: Bools = (
        ((offers.required[offer] & ~subjects) == 0)
        & (population.form[rows, None] >= offers.min_form[offer])
        & (age >= offers.min_age[offer])
        & (population.band[rows, None] <= offers.max_band[offer])
    )
    return ok


def _first_occurrences(a: Ints) -> Bools:
    """True where a[i, j] does not occur earlier in row i."""
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    repeat_sorted = np.zeros(a.shape, dtype=bool)
    repeat_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
    repeat = np.empty_like(repeat_sorted)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return ~repeat


def _district_km() -> Floats:
    """Straight-line distance between district centroids, in km (18 x 18)."""
    lat = np.array([data.DISTRICT_FACTS[d][0] for d in data.DISTRICTS])
    lon = np.array([data.DISTRICT_FACTS[d][1] for d in data.DISTRICTS])
    dy = (lat[:, None] - lat[None, :]) * 110.6
    dx = (lon[:, None] - lon[None, :]) * 111.3 * math.cos(math.radians(22.3))
    km: Floats = np.hypot(dx, dy)
    return km


# --- rules ---------------------------------------------------------------------------------------


def _rules(rng: Rng, school_ids: list[str]) -> RoundRules:
    """Default rules (90% target); two schools set their own interim target."""
    chosen = sorted(rng.choice(len(school_ids), min(2, len(school_ids)), replace=False).tolist())
    return RoundRules(
        school_targets={school_ids[i]: t for i, t in zip(chosen, (80.0, 85.0), strict=False)}
    )


def eligible_rankings(instance: Instance) -> tuple[list[PreferenceList], int]:
    """The instance's preference lists without the offers each student may not take, and how
    many lists lost some. The generator lets students rank such offers (the engine explains
    them); the service refuses such a ranking, as its student pages would, so whatever feeds a
    generated cluster through the service ranks only what is eligible."""
    students = {s.student_id: s for s in instance.students}
    offers = {o.offer_id: o for o in instance.offers}
    out, trimmed = [], 0
    for p in instance.preferences:
        student = students[p.student_id]
        ranked = tuple(o for o in p.ranked if is_eligible(student, offers[o]))
        if ranked != p.ranked:
            trimmed += 1
            p = p.model_copy(update={"ranked": ranked})
        out.append(p)
    return out, trimmed
