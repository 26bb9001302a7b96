"""The simulated market's vocabulary: industries, countries, technologies, personas, names, channels, pages.

Plain constant data, each entry with the hidden weight the simulator uses (how well it fits the product). The
weights are the simulator's "truth"; the playbook's scoring rules only see the attributes and approximate it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ASSETS",
    "BLOG_POSTS",
    "CAMPAIGNS",
    "CAREER_PAGES",
    "CASE_STUDIES",
    "COMPANY_SUFFIXES",
    "COMPANY_WORDS",
    "COMPETITOR_DOMAINS",
    "COMPETITOR_NAMES",
    "COUNTRIES",
    "FIRST_NAMES",
    "FREE_MAIL_DOMAINS",
    "INDUSTRIES",
    "LAST_NAMES",
    "PERSONAS",
    "PRODUCT_PAGES",
    "STUDENT_DOMAINS",
    "STUDENT_TITLES",
    "TECHNOLOGIES",
    "Campaign",
    "Persona",
    "Weighted",
]


@dataclass(frozen=True)
class Weighted:
    """A categorical value: how common it is in the market (``share``) and how well it fits (``fit``, 0..1)."""

    name: str
    share: float
    fit: float


INDUSTRIES = (
    Weighted("software", 0.18, 0.95),
    Weighted("finance", 0.07, 0.85),
    Weighted("banking", 0.04, 0.8),
    Weighted("insurance", 0.05, 0.75),
    Weighted("healthcare", 0.08, 0.6),
    Weighted("manufacturing", 0.12, 0.45),
    Weighted("retail", 0.1, 0.4),
    Weighted("logistics", 0.06, 0.4),
    Weighted("consulting", 0.09, 0.55),
    Weighted("media", 0.06, 0.35),
    Weighted("education", 0.07, 0.15),
    Weighted("government", 0.04, 0.1),
    Weighted("nonprofit", 0.04, 0.1),
)

COUNTRIES = (
    Weighted("US", 0.34, 0.9),
    Weighted("GB", 0.09, 0.9),
    Weighted("DE", 0.1, 0.9),
    Weighted("FR", 0.06, 0.8),
    Weighted("NL", 0.04, 0.85),
    Weighted("AT", 0.02, 0.85),
    Weighted("CH", 0.02, 0.85),
    Weighted("CA", 0.05, 0.7),
    Weighted("SE", 0.03, 0.7),
    Weighted("ES", 0.04, 0.5),
    Weighted("IT", 0.04, 0.45),
    Weighted("PL", 0.03, 0.4),
    Weighted("AU", 0.04, 0.6),
    Weighted("IN", 0.06, 0.25),
    Weighted("BR", 0.04, 0.25),
)

TECHNOLOGIES = (
    Weighted("salesforce", 0.3, 0.9),
    Weighted("hubspot", 0.25, 0.8),
    Weighted("marketo", 0.1, 0.85),
    Weighted("pipedrive", 0.1, 0.6),
    Weighted("segment", 0.12, 0.7),
    Weighted("snowflake", 0.1, 0.6),
    Weighted("slack", 0.5, 0.5),
    Weighted("zendesk", 0.2, 0.5),
    Weighted("google_analytics", 0.6, 0.4),
    Weighted("wordpress", 0.35, 0.3),
    Weighted("shopify", 0.1, 0.2),
)


@dataclass(frozen=True)
class Persona:
    """A job title with its seniority; ``fit`` is how much this person matters to a purchase."""

    title: str
    seniority: str
    share: float
    fit: float


PERSONAS = (
    Persona("Chief Executive Officer", "c_level", 0.03, 0.8),
    Persona("Chief Revenue Officer", "c_level", 0.01, 1.0),
    Persona("Chief Marketing Officer", "c_level", 0.02, 1.0),
    Persona("VP Marketing", "vp", 0.03, 1.0),
    Persona("VP Sales", "vp", 0.03, 0.95),
    Persona("Head of Demand Generation", "director", 0.03, 0.95),
    Persona("Director of Revenue Operations", "director", 0.03, 1.0),
    Persona("Director of Sales", "director", 0.03, 0.85),
    Persona("Marketing Manager", "manager", 0.09, 0.7),
    Persona("Sales Operations Manager", "manager", 0.05, 0.75),
    Persona("Product Manager", "manager", 0.06, 0.35),
    Persona("Engineering Manager", "manager", 0.04, 0.2),
    Persona("Marketing Specialist", "individual", 0.1, 0.4),
    Persona("Sales Development Representative", "individual", 0.1, 0.35),
    Persona("Account Executive", "individual", 0.07, 0.35),
    Persona("Software Engineer", "individual", 0.1, 0.1),
    Persona("Data Analyst", "individual", 0.08, 0.25),
    Persona("Office Manager", "individual", 0.05, 0.1),
)

STUDENT_TITLES = ("Student", "Marketing Intern", "MBA Student")

FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elif", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam", "Mia", "Noah",
    "Olivia", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Xavier", "Yuki", "Zoe", "Amir",
    "Bea", "Chen", "Dara", "Emil", "Fatima", "Greta", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nina",
)  # fmt: skip

LAST_NAMES = (
    "Schmidt", "Smith", "Garcia", "Müller", "Johnson", "Rossi", "Dubois", "Jansen", "Nowak", "Andersson", "Kim",
    "Patel", "Silva", "Brown", "Weber", "Martin", "Lopez", "Fischer", "Taylor", "Moreau", "Bakker", "Novak", "Ito",
    "Singh", "Costa", "Wilson", "Becker", "Bernard", "Ferrari", "Hansen",
)  # fmt: skip

COMPANY_WORDS = (
    "Acme", "Blue", "Nova", "Peak", "Orbit", "Pixel", "Iron", "Cedar", "Bright", "North", "Quantum", "Silver",
    "Harbor", "Vertex", "Summit", "Lumen", "Atlas", "Delta", "Echo", "Fjord",
)  # fmt: skip
COMPANY_SUFFIXES = ("Labs", "Systems", "Group", "Works", "Digital", "Partners", "Analytics", "Health", "Capital", "AG")

FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de", "web.de", "icloud.com")
STUDENT_DOMAINS = ("student.uni-example.edu", "mail.college-example.edu")
COMPETITOR_DOMAINS = ("rivalcrm.com", "funnelforce.io", "leadzilla.com")
COMPETITOR_NAMES = ("RivalCRM", "FunnelForce", "Leadzilla")


@dataclass(frozen=True)
class Campaign:
    """A marketing campaign on one channel: who it brings (``share`` of arrivals, fit/interest lift) and what a
    visitor costs (``cost_per_visit``; ``fixed_daily`` is spent every day regardless of traffic)."""

    key: str
    name: str
    channel: str
    source: str
    medium: str
    share: float
    fit_lift: float
    interest_lift: float
    cost_per_visit: float
    fixed_daily: float
    landing: str


CAMPAIGNS = (
    Campaign("ps-brand", "Paid search: brand", "paid_search", "google", "cpc", 0.08, 0.05, 0.25, 2.5, 0, "/"),
    Campaign("ps-generic", "Paid search: lead scoring", "paid_search", "google", "cpc", 0.12, 0.0, 0.1, 6.0, 0,
             "/pricing"),
    Campaign("li-abm", "LinkedIn ads: ABM revenue leaders", "linkedin_ads", "linkedin", "paid_social", 0.1, 0.25,
             0.0, 9.0, 0, "/product"),
    Campaign("li-content", "LinkedIn ads: funnel report", "linkedin_ads", "linkedin", "paid_social", 0.07, 0.1,
             0.05, 5.0, 0, "/resources/funnel-report"),
    Campaign("webinar-handoff", "Webinar: fixing the handoff", "webinar", "webinar", "webinar", 0.07, 0.1, 0.2,
             1.0, 120, "/webinars/fixing-the-handoff"),
    Campaign("seo-blog", "Organic: blog and SEO", "organic", "google", "organic", 0.4, -0.15, -0.1, 0.0, 60,
             "/blog"),
    Campaign("event-saas-summit", "Event: SaaS Summit booth", "events", "event", "offline", 0.06, 0.15, 0.1, 4.0,
             300, "/events/saas-summit"),
    Campaign("referral-partners", "Referrals: partners and customers", "referral", "partner", "referral", 0.1,
             0.2, 0.3, 0.0, 40, "/"),
)  # fmt: skip

BLOG_POSTS = (
    "/blog/what-is-an-mql", "/blog/lead-scoring-101", "/blog/sales-marketing-sla", "/blog/funnel-metrics",
    "/blog/bant-is-dead", "/blog/attribution-models", "/blog/recycling-leads", "/blog/abm-playbook",
)  # fmt: skip
CASE_STUDIES = ("/customers/northwind", "/customers/globex", "/customers/initech")
PRODUCT_PAGES = ("/product", "/product/scoring", "/product/handoff", "/integrations")
CAREER_PAGES = ("/careers", "/careers/sales-engineer", "/careers/marketing-manager")
ASSETS = ("funnel-benchmark-report", "lead-scoring-template", "sla-playbook-ebook")
