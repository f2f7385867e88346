"""Demo articles for `make run`: published patient-education articles by the demo doctors,
reviewed by the demo editor, and one draft waiting in the "Medical review" workflow.

Idempotent: an article whose slug exists is left as it is, and so is its hero image (found by
title). The hero images are drawn with Pillow here, so the demo downloads nothing.
"""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.images import ImageFile
from django.db import transaction
from django.utils import timezone
from PIL import Image as PillowImage
from PIL import ImageDraw
from wagtail.images import get_image_model
from wagtail.models import Workflow

from blog.editorial import MEDICAL_REVIEW
from blog.models import ArticleIndexPage, ArticlePage
from clinic.models import Doctor, Specialty
from core.models import User


def _text(*paragraphs: str) -> dict:
    return {"type": "rich_text", "value": "".join(f"<p>{p}</p>" for p in paragraphs)}


def _list(*items: str, ordered: bool = False) -> dict:
    tag = "ol" if ordered else "ul"
    return {
        "type": "rich_text",
        "value": f"<{tag}>{''.join(f'<li>{i}</li>' for i in items)}</{tag}>",
    }


def _heading(text: str, level: str = "h2") -> dict:
    return {"type": "heading", "value": {"text": text, "level": level}}


def _callout(kind: str, title: str, text: str) -> dict:
    return {"type": "callout", "value": {"kind": kind, "title": title, "text": f"<p>{text}</p>"}}


def _quote(text: str, attribution: str) -> dict:
    return {"type": "quote", "value": {"text": text, "attribution": attribution}}


def _references(*refs: tuple[str, str]) -> dict:
    return {
        "type": "references",
        "value": [{"citation": citation, "url": url} for citation, url in refs],
    }


# slug -> the article. `hero` is (two colours of the drawing, alt text) or None.
DEMO_ARTICLES: dict[str, dict] = {
    "high-blood-pressure-numbers": {
        "author": "clara",
        "title": "High blood pressure: what the numbers mean and what you can do",
        "summary": "Most people with high blood pressure feel nothing. Here is how to read your "
        "readings, measure at home and lower your numbers.",
        "specialty": "cardiology",
        "tags": ["blood pressure", "heart health", "lifestyle"],
        "days_ago": 40,
        "hero": (
            ("#0b7285", "#e3fafc"),
            "Illustration of a blood pressure cuff with a rising line of readings.",
        ),
        "body": [
            _text(
                "Blood pressure is the force of your blood against the walls of your arteries. "
                "It is written as two numbers, for example <b>128/82 mmHg</b>: the first "
                "(systolic) while the heart beats, the second (diastolic) while it rests "
                "between beats.",
                "High blood pressure (hypertension) rarely causes symptoms, yet over the years "
                "it raises the risk of stroke, heart attack, heart failure and kidney disease. "
                "That is why measuring it matters.",
            ),
            _heading("Reading your numbers"),
            _list(
                "<b>Below 120/80</b>: optimal.",
                "<b>120 to 139 / 80 to 89</b>: normal to high-normal; lifestyle matters most here.",
                "<b>140/90 or higher</b>, measured on several occasions in the clinic (or "
                "135/85 or higher averaged at home): hypertension.",
            ),
            _callout(
                "info",
                "One high reading is not a diagnosis",
                "Stress, coffee or a full bladder can raise a single reading. Your doctor "
                "diagnoses hypertension from repeated measurements, ideally including home "
                "readings.",
            ),
            _heading("Measuring at home"),
            _list(
                "Use a validated upper-arm monitor with a cuff that fits your arm.",
                "Sit quietly for five minutes, back supported, feet flat, arm resting at heart "
                "level.",
                "Take two readings a minute apart, morning and evening, for seven days, and "
                "bring the list to your appointment.",
                ordered=True,
            ),
            _heading("What lowers blood pressure"),
            _text(
                "Small, steady changes add up: less salt (under 5 g a day), plenty of "
                "vegetables and fruit, regular activity such as brisk walking for 30 minutes "
                "on most days, less alcohol, not smoking, and losing weight if you are "
                "overweight. Many people also need medicine; it works best taken every day, "
                "even when you feel well."
            ),
            _quote(
                "Treating high blood pressure is one of the most effective things we can do "
                "to prevent strokes and heart attacks.",
                "Dr Clara Weiss, cardiologist",
            ),
            _callout(
                "danger",
                "Very high readings with symptoms",
                "A reading of 180/120 or higher together with chest pain, shortness of breath, "
                "weakness on one side, trouble speaking or a sudden severe headache needs "
                "emergency care.",
            ),
            _references(
                (
                    "World Health Organization. Hypertension: fact sheet. 2023.",
                    "https://www.who.int/news-room/fact-sheets/detail/hypertension",
                ),
                (
                    "Mancia G, Kreutz R, Brunström M, et al. 2023 ESH Guidelines for the "
                    "management of arterial hypertension. J Hypertens. 2023;41(12):1874-2071.",
                    "",
                ),
            ),
        ],
    },
    "chest-pain-when-to-call": {
        "author": "clara",
        "title": "Chest pain: when to call an ambulance",
        "summary": "Most chest pain is not a heart attack, but some is, and minutes count. "
        "Know the warning signs and what to do.",
        "specialty": "cardiology",
        "tags": ["heart health", "emergency"],
        "days_ago": 25,
        "hero": None,
        "body": [
            _callout(
                "danger",
                "Call the emergency number now if",
                "you have chest pain or pressure that lasts more than a few minutes or keeps "
                "coming back, especially with shortness of breath, sweating, nausea, or pain "
                "spreading to the arm, neck, jaw or back. Do not drive yourself to hospital.",
            ),
            _heading("Heart attack warning signs"),
            _list(
                "Pressure, tightness, squeezing or pain in the centre of the chest.",
                "Pain spreading to one or both arms, the neck, jaw, back or stomach.",
                "Shortness of breath, cold sweat, nausea or light-headedness.",
            ),
            _text(
                "Women, older people and people with diabetes more often have less typical "
                "symptoms, such as breathlessness, unusual tiredness or discomfort in the upper "
                "stomach, sometimes without marked chest pain."
            ),
            _heading("While you wait for the ambulance"),
            _list(
                "Sit down and rest; keep calm.",
                "If you are not allergic to it and have not been told to avoid it, the "
                "dispatcher may advise chewing an aspirin.",
                "Unlock the door and keep your phone close.",
                ordered=True,
            ),
            _heading("Other causes of chest pain", "h3"),
            _text(
                "Muscle strain, heartburn, anxiety and lung infections can also cause chest "
                "pain. If the pain is mild and you are unsure, book an appointment or ask for "
                "advice the same day rather than waiting."
            ),
            _references(
                (
                    "NHS. Heart attack: symptoms.",
                    "https://www.nhs.uk/conditions/heart-attack/symptoms/",
                ),
                (
                    "American Heart Association. Warning signs of a heart attack.",
                    "https://www.heart.org/en/health-topics/heart-attack/"
                    "warning-signs-of-a-heart-attack",
                ),
            ),
        ],
    },
    "fever-in-children": {
        "author": "omar",
        "title": "Fever in children: when to worry",
        "summary": "Fever is usually the body fighting an infection. How to keep your child "
        "comfortable, and the signs that mean your child should be seen.",
        "specialty": "pediatrics",
        "tags": ["children", "fever", "emergency"],
        "days_ago": 18,
        "hero": (
            ("#e8590c", "#fff4e6"),
            "Illustration of a thermometer beside a child's teddy bear.",
        ),
        "body": [
            _text(
                "A fever is a temperature of <b>38 °C or higher</b>. In most children it is "
                "caused by a viral infection and gets better on its own within three days. "
                "How your child looks and behaves tells you more than the number on the "
                "thermometer."
            ),
            _heading("Keeping your child comfortable"),
            _list(
                "Offer drinks often; breastfed babies can feed more often.",
                "Dress your child lightly; do not wrap up or cool with cold water.",
                "Paracetamol or ibuprofen can ease distress; follow the dose for your child's "
                "age and weight, and do not give both at the same time routinely.",
                "Check on your child during the night.",
            ),
            _callout(
                "warning",
                "Babies under 3 months",
                "A baby younger than 3 months with a temperature of 38 °C or higher should be "
                "seen by a doctor the same day.",
            ),
            _callout(
                "danger",
                "Get help straight away if your child",
                "is hard to wake or unusually floppy, breathes very fast or with pauses, has a "
                "rash that does not fade when you press a glass against it, has a fit for the "
                "first time, or is not drinking and has no wet nappy for 12 hours.",
            ),
            _heading("When to book an appointment"),
            _text(
                "Book a visit if the fever lasts five days or more, if your child seems to be "
                "getting worse, or if you are worried: you know your child best."
            ),
            _quote(
                "Parents are very good at noticing when their child is really unwell. Trust "
                "that feeling.",
                "Dr Omar Haddad, paediatrician",
            ),
            _references(
                (
                    "National Institute for Health and Care Excellence. Fever in under 5s: "
                    "assessment and initial management (NG143). 2019, updated 2021.",
                    "https://www.nice.org.uk/guidance/ng143",
                ),
                (
                    "NHS. High temperature (fever) in children.",
                    "https://www.nhs.uk/conditions/fever-in-children/",
                ),
            ),
        ],
    },
    "childhood-vaccinations-questions": {
        "author": "omar",
        "title": "Childhood vaccinations: answers to the questions parents ask",
        "summary": "Why vaccines are given early, what side effects to expect and what to do "
        "if your child missed a dose.",
        "specialty": "pediatrics",
        "tags": ["children", "vaccination"],
        "days_ago": 9,
        "hero": (
            ("#2b8a3e", "#ebfbee"),
            "Illustration of a shield protecting a small figure of a child.",
        ),
        "body": [
            _text(
                "Vaccines teach the immune system to recognise a germ without your child "
                "having to catch the disease. They are given early because measles, whooping "
                "cough and other infections are most dangerous in the first years of life."
            ),
            _heading("Common side effects"),
            _list(
                "Redness, swelling or soreness where the needle went in.",
                "A mild fever or being grumpy for a day or two.",
                "After the measles-mumps-rubella vaccine, a mild rash or fever 7 to 12 days later.",
            ),
            _callout(
                "info",
                "Serious reactions are rare",
                "Severe allergic reactions happen in about one in a million doses, and "
                "vaccination staff are trained and equipped to treat them at once.",
            ),
            _heading("If a dose was missed"),
            _text(
                "You do not need to start again. Bring your child's vaccination record to an "
                "appointment and we will plan the catch-up doses."
            ),
            _heading("Can my child be vaccinated with a cold?", "h3"),
            _text(
                "Yes, a mild illness such as a cold is not a reason to delay. If your child "
                "has a high fever, we may wait until they are better."
            ),
            _references(
                (
                    "World Health Organization. Vaccines and immunization: what is vaccination?",
                    "https://www.who.int/news-room/questions-and-answers/item/"
                    "vaccines-and-immunization-what-is-vaccination",
                ),
            ),
        ],
    },
    "cholesterol-explained": {
        "author": "clara",
        "title": "Cholesterol explained: LDL, HDL and your heart",
        "summary": "What your lipid panel says, why LDL cholesterol matters, and how food, "
        "activity and medicine lower it.",
        "specialty": "cardiology",
        "tags": ["cholesterol", "heart health", "lifestyle"],
        "days_ago": 3,
        "hero": None,
        "body": [
            _text(
                "Cholesterol is a fat your body needs, carried in the blood by particles. "
                "<b>LDL</b> cholesterol can build up in artery walls and narrow them; "
                "lowering it reduces the risk of heart attack and stroke."
            ),
            _heading("Reading a lipid panel"),
            _list(
                "<b>LDL cholesterol</b>: the main target. How low it should be depends on "
                "your overall risk, which your doctor estimates with you.",
                "<b>HDL cholesterol</b>: higher values are generally associated with lower risk.",
                "<b>Triglycerides</b>: raised by sugar, alcohol and excess weight.",
            ),
            _heading("What helps"),
            _text(
                "Replace saturated fats (fatty meat, butter, cream) with unsaturated ones "
                "(olive oil, nuts, fish), eat more fibre, stay active and do not smoke. If "
                "your risk is high, a statin lowers LDL cholesterol reliably and is usually "
                "well tolerated."
            ),
            _callout(
                "warning",
                "Do not stop a statin on your own",
                "If you get muscle aches or other side effects, talk to your doctor: a "
                "different dose or medicine often solves the problem.",
            ),
            _references(
                (
                    "Mach F, Baigent C, Catapano AL, et al. 2019 ESC/EAS Guidelines for the "
                    "management of dyslipidaemias. Eur Heart J. 2020;41(1):111-188.",
                    "",
                ),
                ("NHS. High cholesterol.", "https://www.nhs.uk/conditions/high-cholesterol/"),
            ),
        ],
    },
}

# The draft Dr Omar has submitted: it waits in the editors' review queue.
DEMO_DRAFT_SLUG = "sleep-school-age-children"
DEMO_DRAFT = {
    "author": "omar",
    "title": "How much sleep does my school-age child need?",
    "summary": "Children of 6 to 12 need 9 to 12 hours. Tips for a calm bedtime.",
    "specialty": "pediatrics",
    "tags": ["children", "sleep"],
    "hero": None,
    "body": [
        _text(
            "Children aged 6 to 12 need 9 to 12 hours of sleep a night, teenagers 8 to 10. "
            "Too little sleep shows as tiredness, irritability and trouble concentrating."
        ),
        _heading("A calm bedtime"),
        _list(
            "Keep the same bedtime and wake-up time, weekends included.",
            "Screens off an hour before bed, and out of the bedroom.",
            "A quiet routine: bath, story, lights out.",
            ordered=True,
        ),
        _references(
            (
                "Paruthi S, Brooks LJ, D'Ambrosio C, et al. Recommended amount of sleep for "
                "pediatric populations. J Clin Sleep Med. 2016;12(6):785-786.",
                "",
            ),
        ),
    ],
}


def _hero_image(title: str, colours: tuple[str, str]):
    """A simple drawn illustration (16:9 PNG) stored as a Wagtail image, once per title."""
    image_model = get_image_model()
    existing = image_model.objects.filter(title=title).first()
    if existing:
        return existing
    ink, paper = colours
    width, height = 1200, 675
    drawing = PillowImage.new("RGB", (width, height), paper)
    pen = ImageDraw.Draw(drawing)
    for step in range(6):  # soft concentric circles on the right
        radius = 420 - step * 60
        pen.ellipse(
            (870 - radius, 340 - radius, 870 + radius, 340 + radius),
            outline=ink,
            width=6,
        )
    pen.rounded_rectangle((90, 200, 560, 480), radius=40, fill=ink)
    pen.line([(140, 420), (240, 330), (330, 380), (430, 260), (510, 290)], fill=paper, width=14)
    buffer = io.BytesIO()
    drawing.save(buffer, format="PNG")
    return image_model.objects.create(title=title, file=ImageFile(buffer, name="article-hero.png"))


def _article(index: ArticleIndexPage, slug: str, spec: dict, author: Doctor) -> ArticlePage:
    article = ArticlePage(
        title=spec["title"],
        slug=slug,
        summary=spec["summary"],
        body=spec["body"],
        specialty=Specialty.objects.get(slug=spec["specialty"]),
        author=author,
        owner=author.user,
        live=False,
    )
    if spec["hero"]:
        colours, alt = spec["hero"]
        article.hero_image = _hero_image(spec["title"], colours)
        article.hero_alt = alt
    index.add_child(instance=article)
    article.tags.set(spec["tags"])
    return article


@transaction.atomic
def demo_articles_seed(*, clara: Doctor, omar: Doctor, editor: User) -> None:
    """Five published articles by the demo doctors, reviewed by the demo editor, and one draft
    by Dr Omar waiting in the "Medical review" workflow (when the workflow exists)."""
    index = ArticleIndexPage.objects.first()
    if index is None:
        return
    authors = {"clara": clara, "omar": omar}
    existing = set(
        ArticlePage.objects.filter(slug__in=[*DEMO_ARTICLES, DEMO_DRAFT_SLUG]).values_list(
            "slug", flat=True
        )
    )
    now = timezone.now()
    # Oldest first, so the publication dates read in the order they were written.
    for slug, spec in sorted(DEMO_ARTICLES.items(), key=lambda item: -item[1]["days_ago"]):
        if slug in existing:
            continue
        author = authors[spec["author"]]
        article = _article(index, slug, spec, author)
        published_at = now - timedelta(days=spec["days_ago"])
        article.first_published_at = published_at
        article.medically_reviewed_on = timezone.localdate(published_at)
        article.medical_reviewer = editor
        article.save_revision(user=author.user).publish(user=editor)

    workflow = Workflow.objects.filter(name=MEDICAL_REVIEW, active=True).first()
    if workflow is None or DEMO_DRAFT_SLUG in existing:
        return
    author = authors[DEMO_DRAFT["author"]]
    draft = _article(index, DEMO_DRAFT_SLUG, DEMO_DRAFT, author)
    draft.save_revision(user=author.user)
    workflow.start(draft, author.user)
