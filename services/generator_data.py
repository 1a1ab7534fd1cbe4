"""Fixed vocabulary for the synthetic generator: geography, the 2026-27 calendar, word lists.

Everything here is data, chosen to look like Hong Kong; none of it is drawn at random. The
names are made up from word lists: any likeness to a real company or institution is chance.
"""

from __future__ import annotations

import datetime as dt

from schemas.common import District, Sector

DISTRICTS: tuple[District, ...] = tuple(District)
SECTORS: tuple[Sector, ...] = tuple(Sector)

# (latitude, longitude, population in thousands, share of workplaces): approximate centroids of
# each district's populated area; the workplace share is heavier in the business districts.
DISTRICT_FACTS: dict[District, tuple[float, float, int, float]] = {
    District.CENTRAL_WESTERN: (22.286, 114.150, 235, 3.0),
    District.WAN_CHAI: (22.279, 114.178, 167, 2.4),
    District.EASTERN: (22.284, 114.224, 529, 1.2),
    District.SOUTHERN: (22.247, 114.169, 263, 0.6),
    District.YAU_TSIM_MONG: (22.311, 114.170, 310, 2.6),
    District.SHAM_SHUI_PO: (22.330, 114.160, 431, 0.9),
    District.KOWLOON_CITY: (22.328, 114.191, 410, 0.9),
    District.WONG_TAI_SIN: (22.342, 114.197, 406, 0.5),
    District.KWUN_TONG: (22.313, 114.226, 673, 1.8),
    District.KWAI_TSING: (22.357, 114.128, 495, 1.1),
    District.TSUEN_WAN: (22.371, 114.114, 320, 0.8),
    District.TUEN_MUN: (22.391, 113.977, 506, 0.6),
    District.YUEN_LONG: (22.445, 114.022, 668, 0.7),
    District.NORTH: (22.494, 114.138, 310, 0.4),
    District.TAI_PO: (22.451, 114.164, 316, 0.5),
    District.SHA_TIN: (22.383, 114.188, 692, 1.2),
    District.SAI_KUNG: (22.316, 114.262, 490, 0.6),
    District.ISLANDS: (22.289, 113.941, 186, 0.7),
}

# Campuses of the made-up institutions sit where real campuses cluster.
FE_DISTRICT_WEIGHT: dict[District, float] = {
    District.SHA_TIN: 3.0,
    District.KOWLOON_CITY: 3.0,
    District.SOUTHERN: 1.5,
    District.CENTRAL_WESTERN: 1.5,
    District.SHAM_SHUI_PO: 1.5,
    District.KWAI_TSING: 1.5,
    District.TUEN_MUN: 1.5,
    District.SAI_KUNG: 1.0,
    District.WONG_TAI_SIN: 1.0,
    District.YAU_TSIM_MONG: 1.0,
    District.TAI_PO: 1.0,
    District.EASTERN: 1.0,
}

# How much students want a sector (interest) and how many placements employers offer in it:
# the mismatch is what makes healthcare and IT contested and retail easy.
SECTOR_DEMAND: dict[Sector, float] = {
    Sector.ACCOUNTING_FINANCE: 1.1,
    Sector.ARCHITECTURE_ENGINEERING: 1.0,
    Sector.AVIATION_LOGISTICS: 0.9,
    Sector.CREATIVE_MEDIA: 1.2,
    Sector.EDUCATION: 0.9,
    Sector.HEALTHCARE: 1.4,
    Sector.HOSPITALITY_TOURISM: 0.8,
    Sector.INFORMATION_TECHNOLOGY: 1.3,
    Sector.LAW_PUBLIC_SERVICE: 0.8,
    Sector.RETAIL_TRADE: 0.5,
    Sector.SCIENCE_RESEARCH: 0.8,
    Sector.SOCIAL_SERVICES: 0.7,
}
SECTOR_SUPPLY: dict[Sector, float] = {
    Sector.ACCOUNTING_FINANCE: 1.1,
    Sector.ARCHITECTURE_ENGINEERING: 1.0,
    Sector.AVIATION_LOGISTICS: 0.9,
    Sector.CREATIVE_MEDIA: 0.8,
    Sector.EDUCATION: 0.8,
    Sector.HEALTHCARE: 0.6,
    Sector.HOSPITALITY_TOURISM: 1.2,
    Sector.INFORMATION_TECHNOLOGY: 1.0,
    Sector.LAW_PUBLIC_SERVICE: 0.6,
    Sector.RETAIL_TRADE: 1.3,
    Sector.SCIENCE_RESEARCH: 0.5,
    Sector.SOCIAL_SERVICES: 0.9,
}

# HKDSE electives that go with a sector, most relevant first (the first two serve as
# prerequisites).
SECTOR_ELECTIVES: dict[Sector, tuple[str, ...]] = {
    Sector.ACCOUNTING_FINANCE: ("bafs", "economics", "m1", "ict"),
    Sector.ARCHITECTURE_ENGINEERING: ("physics", "m2", "design_applied_technology", "visual_arts"),
    Sector.AVIATION_LOGISTICS: ("physics", "geography", "economics", "tourism_hospitality"),
    Sector.CREATIVE_MEDIA: ("visual_arts", "ict", "music", "literature_in_english"),
    Sector.EDUCATION: ("chinese_literature", "history", "pe", "ethics_religious_studies"),
    Sector.HEALTHCARE: ("biology", "chemistry", "health_management_social_care", "pe"),
    Sector.HOSPITALITY_TOURISM: ("tourism_hospitality", "technology_living", "geography"),
    Sector.INFORMATION_TECHNOLOGY: ("ict", "m2", "physics", "m1"),
    Sector.LAW_PUBLIC_SERVICE: ("history", "chinese_history", "economics", "literature_in_english"),
    Sector.RETAIL_TRADE: ("bafs", "economics", "technology_living", "visual_arts"),
    Sector.SCIENCE_RESEARCH: ("chemistry", "biology", "physics", "m2"),
    Sector.SOCIAL_SERVICES: (
        "health_management_social_care",
        "ethics_religious_studies",
        "geography",
        "chinese_history",
    ),
}

# --- calendar of the 2026-27 school year --------------------------------------------------------
TERM = (dt.date(2026, 9, 1), dt.date(2027, 7, 16))
CHRISTMAS = (dt.date(2026, 12, 21), dt.date(2027, 1, 1))
LUNAR_NEW_YEAR = (dt.date(2027, 2, 4), dt.date(2027, 2, 13))
EASTER = (dt.date(2027, 3, 26), dt.date(2027, 4, 9))
SUMMER = (dt.date(2027, 7, 19), dt.date(2027, 8, 31))
SCHOOL_HOLIDAYS = (CHRISTMAS, LUNAR_NEW_YEAR, EASTER, SUMMER)
# Holidays in which providers run L2/L3 placements, with their share of them.
PLACEMENT_HOLIDAYS: tuple[tuple[tuple[dt.date, dt.date], float], ...] = (
    (CHRISTMAS, 0.2),
    (EASTER, 0.2),
    (SUMMER, 0.6),
)
# General holidays, approximately as gazetted for 2026-27: no workplace session falls on one.
PUBLIC_HOLIDAYS = frozenset(
    {
        dt.date(2026, 9, 26),  # day following Mid-Autumn Festival
        dt.date(2026, 10, 1),  # National Day
        dt.date(2026, 10, 19),  # day following Chung Yeung
        dt.date(2026, 12, 25),
        dt.date(2026, 12, 26),
        dt.date(2027, 1, 1),
        dt.date(2027, 2, 6),  # Lunar New Year
        dt.date(2027, 2, 8),
        dt.date(2027, 2, 9),
        dt.date(2027, 3, 26),  # Good Friday
        dt.date(2027, 3, 27),
        dt.date(2027, 3, 29),  # Easter Monday
        dt.date(2027, 4, 5),  # Ching Ming
        dt.date(2027, 5, 1),  # Labour Day
        dt.date(2027, 5, 13),  # Buddha's Birthday
        dt.date(2027, 6, 9),  # Tuen Ng
        dt.date(2027, 7, 1),  # HKSAR Establishment Day
    }
)
PREVIOUS_YEAR = (dt.date(2025, 9, 15), dt.date(2026, 7, 10))  # for encounters already attended
PREFERENCE_WINDOW_START = dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

T = dt.time
L1_HOURS = (
    (T(9, 30), T(12, 30)),
    (T(14, 0), T(17, 0)),
    (T(10, 0), T(12, 0)),
    (T(14, 30), T(16, 30)),
)
L2_HOURS = ((T(9, 30), T(17, 30)), (T(9, 0), T(17, 0)), (T(10, 0), T(16, 0)), (T(9, 30), T(13, 0)))
L3_HOURS = ((T(9, 0), T(17, 0)), (T(9, 30), T(17, 30)), (T(10, 0), T(18, 0)))
FE_VISIT_HOURS = ((T(9, 30), T(16, 30)), (T(10, 0), T(13, 0)), (T(13, 30), T(17, 0)))
FE_INTERACTION_HOURS = ((T(16, 0), T(18, 0)), (T(16, 30), T(18, 0)))

# --- names -------------------------------------------------------------------------------------
HK_SYLLABLES = (
    "Wing", "Fung", "Tai", "Hing", "Sun", "Kwong", "Fook", "Hang", "Seng", "Yau", "Lung",
    "Cheong", "Wah", "Shing", "Kin", "On", "Tak", "Po", "Man", "Yick", "Chun", "Hop", "Lik",
    "Keung", "Mei", "Lok", "Fat", "Cheung", "Sang", "Kee",
)  # fmt: skip
PLACES = (
    "Harbour", "Victoria", "Lion Rock", "Pearl River", "Tsing Ma", "Peak", "Bauhinia", "Jade",
    "Lantau", "Tai Mo Shan", "Orient", "Pacific", "Kowloon", "Harbourfront", "Silvermine",
    "Clearwater", "Junk Bay", "Plover Cove", "Castle Peak", "Shing Mun",
)  # fmt: skip
SECTOR_NOUNS: dict[Sector, tuple[str, ...]] = {
    Sector.ACCOUNTING_FINANCE: (
        "Securities", "Capital", "Financial Services", "Wealth Management", "Bank",
        "Certified Public Accountants",
    ),
    Sector.ARCHITECTURE_ENGINEERING: (
        "Engineering", "Construction", "Architects", "Surveyors", "Building Services",
    ),
    Sector.AVIATION_LOGISTICS: (
        "Logistics", "Air Cargo", "Freight", "Shipping", "Aviation Services", "Terminals",
    ),
    Sector.CREATIVE_MEDIA: ("Media", "Design Studio", "Productions", "Advertising", "Publishing"),
    Sector.EDUCATION: ("Learning Centre", "Education Services", "Kindergarten", "Language School"),
    Sector.HEALTHCARE: (
        "Medical Centre", "Dental Clinic", "Pharmacy", "Physiotherapy Centre", "Hospital",
    ),
    Sector.HOSPITALITY_TOURISM: ("Hotel", "Travel", "Restaurants Group", "Catering", "Tours"),
    Sector.INFORMATION_TECHNOLOGY: (
        "Technology", "Digital Solutions", "Software", "Data Systems", "Cyber Security",
    ),
    Sector.LAW_PUBLIC_SERVICE: ("Solicitors", "Legal Services", "Public Affairs Consultancy"),
    Sector.RETAIL_TRADE: ("Trading", "Department Store", "Supermarkets", "Import & Export"),
    Sector.SCIENCE_RESEARCH: (
        "Biotech", "Research Laboratory", "Testing & Certification", "Life Sciences",
    ),
    Sector.SOCIAL_SERVICES: (
        "Neighbourhood Centre", "Youth Services", "Elderly Home", "Rehabilitation Centre",
    ),
}  # fmt: skip
# Names ending like this read as an institution, not a company: they take no "Limited".
NO_SUFFIX_ENDINGS = (
    "Centre", "Clinic", "Hospital", "Home", "Kindergarten", "School", "Services", "Solicitors",
    "Architects", "Surveyors", "Accountants", "Laboratory", "Bank", "Group",
)  # fmt: skip
COMPANY_SUFFIXES = ("Limited", "Company Limited", "Holdings Limited", "Group", "(HK) Limited")
INSTITUTION_PATTERNS = (
    "{place} University",
    "{place} Institute of Vocational Education",
    "{place} Community College",
    "{place} College of Technology",
    "{place} School of Professional Education",
    "{place} Academy of Performing Arts and Design",
)
INSURER_PATTERNS = ("{place} General Insurance Limited", "{a} {b} Insurance Company Limited")

# (roles in the workplace, a further-education programme) per sector.
SECTOR_ROLES: dict[Sector, tuple[tuple[str, ...], str]] = {
    Sector.ACCOUNTING_FINANCE: (("auditor", "bank teller", "financial analyst"), "Accountancy"),
    Sector.ARCHITECTURE_ENGINEERING: (
        ("site engineer", "architectural assistant", "building surveyor"),
        "Civil Engineering",
    ),
    Sector.AVIATION_LOGISTICS: (
        ("ramp officer", "logistics coordinator", "customer service agent"),
        "Aviation and Logistics",
    ),
    Sector.CREATIVE_MEDIA: (("graphic designer", "video editor", "copywriter"), "Creative Media"),
    Sector.EDUCATION: (("teaching assistant", "kindergarten teacher", "tutor"), "Education"),
    Sector.HEALTHCARE: (("nurse", "physiotherapist", "dispenser"), "Nursing and Health Sciences"),
    Sector.HOSPITALITY_TOURISM: (
        ("front desk officer", "commis chef", "tour coordinator"),
        "Hospitality Management",
    ),
    Sector.INFORMATION_TECHNOLOGY: (
        ("software developer", "network technician", "data analyst"),
        "Computer Science",
    ),
    Sector.LAW_PUBLIC_SERVICE: (("legal clerk", "paralegal", "policy researcher"), "Law"),
    Sector.RETAIL_TRADE: (("merchandiser", "store supervisor", "buyer"), "Retail Management"),
    Sector.SCIENCE_RESEARCH: (("lab technician", "research assistant"), "Biomedical Sciences"),
    Sector.SOCIAL_SERVICES: (("social worker", "youth worker", "care assistant"), "Social Work"),
}
L1_ACTIVITIES = ("Company tour", "Site visit", "Employee sharing", "Behind the scenes")
L2_ACTIVITIES = ("Job shadowing", "Job tasting")
L3_ACTIVITIES = ("Holiday internship", "Work placement")
FE_VISIT_ACTIVITIES = ("Information day", "Campus tour", "Trial class")
FE_INTERACTION_ACTIVITIES = ("Alumni sharing", "Meet current students", "Admissions talk")

SURNAMES = (
    "Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Lam", "Tsang", "Chow", "Yip",
    "Tam", "Li", "Fung", "Kwok", "Mak", "Yeung", "Tang", "Choi", "Lo", "Law", "Chu", "Siu",
)  # fmt: skip
GIVEN_SYLLABLES = (
    "Ka", "Wing", "Chun", "Hei", "Yan", "Sze", "Hoi", "Tsz", "Lok", "Ching", "Man", "Kit",
    "Yu", "Wai", "Ho", "Long", "Hin", "Lam", "Yee", "Ting", "Nga", "Pui", "Sum", "Kiu",
)  # fmt: skip
ENGLISH_NAMES = (
    "Ethan", "Chloe", "Jason", "Hailey", "Marcus", "Janice", "Kelvin", "Gigi", "Ryan", "Natalie",
    "Kenneth", "Crystal", "Ivan", "Karen", "Justin", "Tiffany", "Oscar", "Winnie",
)  # fmt: skip
