"""A labelled household Q&A set for ``appliance bench --only quality`` (written for this project).

Each item is a question, the exchanges before it (for follow-ups), the facts
the memory would retrieve for it (for remembered facts, which must come back
exactly), and what a right answer contains: every group must match, a group
matches when any of its ``|``-separated alternatives appears as whole words
(a trailing ``*`` matches any ending).  ``reject`` alternatives must not
appear (the near misses a small model makes: "thirteenth" for "twelfth").
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("fact", "definition", "advice", "follow-up", "remembered")


@dataclass(frozen=True)
class QaItem:
    category: str
    question: str
    expect: tuple[str, ...]
    """Groups of alternatives; all groups must match."""
    history: tuple[tuple[str, str], ...] = ()
    """(user, assistant) exchanges before the question, oldest first."""
    memories: tuple[str, ...] = ()
    """Remembered facts the context builder puts in the notes."""
    reject: str = ""
    """Alternatives that make an answer wrong even if it matches."""


def _facts(*rows: tuple[str, str]) -> list[QaItem]:
    return [QaItem("fact", q, (a,)) for q, a in rows]


def _definitions(*rows: tuple[str, str]) -> list[QaItem]:
    return [QaItem("definition", q, (a,)) for q, a in rows]


def _advice(*rows: tuple[str, str]) -> list[QaItem]:
    return [QaItem("advice", q, (a,)) for q, a in rows]


def _follow_ups(*rows: tuple[str, str, str, str]) -> list[QaItem]:
    return [QaItem("follow-up", q, (a,), history=((u, r),)) for u, r, q, a in rows]


def _remembered(*rows: tuple[str, str, tuple[str, ...], str]) -> list[QaItem]:
    return [QaItem("remembered", q, groups, memories=(fact,), reject=rej) for fact, q, groups, rej in rows]


ITEMS: tuple[QaItem, ...] = tuple(
    _facts(
        ("How many legs does a spider have?", "eight|8"),
        ("What is ten minus four?", "six|6"),
        ("What is the largest planet in our solar system?", "jupiter"),
        ("What is the capital of France?", "paris"),
        ("What is the capital of Japan?", "tokyo"),
        ("What is the capital of Italy?", "rome"),
        ("What is the capital of Spain?", "madrid"),
        ("What is the capital of Germany?", "berlin"),
        ("What is the capital of Canada?", "ottawa"),
        ("What is the capital of Australia?", "canberra"),
        ("What is the capital of the United Kingdom?", "london"),
        ("How many days are in a week?", "seven|7"),
        ("How many months are in a year?", "twelve|12"),
        ("How many hours are in a day?", "24|twenty-four|twenty four"),
        ("How many minutes are in an hour?", "sixty|60"),
        ("What is two plus two?", "four|4"),
        ("What is five plus seven?", "twelve|12"),
        ("What is three times three?", "nine|9"),
        ("What is twenty divided by five?", "four|4"),
        ("What is the square root of nine?", "three|3"),
        ("At what temperature in Celsius does water freeze?", "zero|0"),
        ("At what temperature in Celsius does water boil?", "100|hundred"),
        ("At what temperature in Fahrenheit does water freeze?", "32|thirty-two|thirty two"),
        ("Which planet is known as the red planet?", "mars"),
        ("Who wrote Romeo and Juliet?", "shakespeare"),
        ("Who painted the Mona Lisa?", "leonardo|da vinci"),
        ("What is the chemical formula of water?", "h2o"),
        ("What gas do plants take in from the air?", "carbon dioxide|co2"),
        ("How many continents are there?", "seven|7"),
        ("What is the longest river in Africa?", "nile"),
        ("What is the tallest mountain in the world?", "everest"),
        ("How many legs does a dog have?", "four|4"),
        ("How many wheels does a bicycle have?", "two|2"),
        ("What colour is the sky on a clear day?", "blue"),
        ("Which ocean is the largest?", "pacific"),
        ("What is the closest star to the Earth?", "sun"),
        ("Who was the first person to walk on the moon?", "armstrong"),
        ("What language do people speak in Brazil?", "portuguese"),
        ("How many sides does a triangle have?", "three|3"),
        ("What is the opposite of hot?", "cold"),
        ("What do bees make?", "honey"),
        ("Which animal is called the king of the jungle?", "lion*"),
    )
    + _definitions(
        ("What is a thermometer used for?", "temperature*"),
        ("What is a kettle for?", "boil*|water"),
        ("What does a refrigerator do?", "cold*|cool*|fresh*"),
        ("What is a vegetarian?", "meat"),
        ("What is photosynthesis?", "light|sun*"),
        ("What is a dentist?", "teeth|tooth"),
        ("What is a mammal?", "milk|hair|fur|warm-blooded|warm blooded"),
        ("What is a leap year?", "366|29|extra day"),
        ("What is a smoke detector?", "smoke|fire"),
        ("What is an umbrella for?", "rain*"),
        ("What is a calendar?", "day*|date*|month*"),
        ("What is a thermostat?", "temperature*|heat*"),
        ("What is a microwave oven used for?", "heat*|cook*|food"),
        ("What is a vacuum cleaner for?", "dust|dirt|clean*"),
        ("What does a pharmacist do?", "medicine*|medication*|drug*|prescription*"),
        ("What is recycling?", "reus*|again|new|waste"),
        ("What is a fever?", "temperature"),
        ("What is an allergy?", "immune|reaction*|react*"),
        ("What is a compass used for?", "direction*|north|navigat*"),
        ("What is a noun?", "person|place|thing|name*"),
    )
    + _advice(
        ("How can I fall asleep faster?", "bed*|sleep*|screen*|routine|relax*|dark*"),
        ("What should I do if I burn my finger on the stove?", "cold|cool*|water"),
        ("How do I keep bread fresh for longer?", "bag|container|freez*|wrap*|seal*|airtight|cool*"),
        ("What should I do if the smoke alarm goes off?", "fire*|leave|out|check*|smoke"),
        ("How often should I water a cactus?", "rarely|week*|month*|once|little|dry"),
        ("How do I get a red wine stain out of a shirt?", "salt|water|soap|baking soda|blot*|vinegar|cold"),
        ("What should I drink when I have a cold?", "water|tea|fluid*|soup|warm|juice"),
        ("How can I save energy at home?", "off|light*|insulat*|led|unplug*|thermostat"),
        ("What should I take with me on a rainy day?", "umbrella|raincoat|jacket|boots|waterproof"),
        ("How long should I boil an egg for a soft yolk?", "minute*"),
        ("How do I stop a tap from dripping?", "washer|plumber|tighten*|valve|replace*"),
        ("What can I cook with eggs and cheese?", "omelet*|quiche|frittata|scrambl*|toast|sandwich*|souffl*"),
        ("How should I store potatoes?", "cool|dark|dry"),
        ("What should I check before a long drive?", "tyre*|tire*|oil|fuel|petrol|gas|water|brake*|light*"),
        ("How do I clean a burnt pan?", "soak*|baking soda|vinegar|water|scrub*"),
        ("What is a good way to stay hydrated?", "water|drink*"),
        ("How can I make my coffee less bitter?", "milk|sugar|cream|salt|less|water|grind*|temperature"),
        ("How do I keep mosquitoes away?", "repellent|net*|screen*|water|citronella|cover*"),
        ("What should I do if I lose my keys?", "look*|check*|retrace|spare|locksmith|search*"),
        ("How can I keep my phone battery healthy?", "charg*|heat|hot|percent|%"),
    )
    + _follow_ups(
        ("Let's talk about Japan.", "Sure, what would you like to know about Japan?", "What is its capital?", "tokyo"),
        ("Tell me about Italy.", "Italy is a country in southern Europe.", "What is its capital city?", "rome"),
        ("I'm thinking of the planet Mars.", "Mars is the fourth planet from the Sun.", "What colour is it?", "red*"),
        (
            "Who wrote Romeo and Juliet?",
            "William Shakespeare wrote Romeo and Juliet.",
            "In which country was he born?",
            "england|english|britain|stratford",
        ),
        (
            "What is the capital of France?",
            "The capital of France is Paris.",
            "What famous tower is there?",
            "eiffel",
        ),
        ("How many legs does a spider have?", "A spider has eight legs.", "And an ant?", "six|6"),
        ("What is two plus three?", "Two plus three is five.", "And if you add two more?", "seven|7"),
        (
            "My favourite fruit is the banana.",
            "Bananas are a great choice!",
            "What colour is my favourite fruit when it is ripe?",
            "yellow",
        ),
        (
            "Let's talk about the Moon.",
            "The Moon is Earth's only natural satellite.",
            "Who first walked on it?",
            "armstrong",
        ),
        (
            "Tell me about Germany.",
            "Germany is a country in central Europe.",
            "What language do people speak there?",
            "german",
        ),
        ("I have a cat named Tom.", "That's lovely! Cats make great companions.", "What is my cat's name?", "tom"),
        ("My sister lives in Madrid.", "Madrid is a beautiful city.", "In which country does my sister live?", "spain"),
        ("Let's talk about bees.", "Bees are insects that live in colonies.", "What sweet food do they make?", "honey"),
        ("I'm making pancakes.", "Pancakes are delicious!", "At which meal are they usually eaten?", "breakfast"),
        (
            "What is the capital of Canada?",
            "The capital of Canada is Ottawa.",
            "Which country lies directly south of it?",
            "united states|usa|america|us",
        ),
        (
            "What is the largest planet?",
            "Jupiter is the largest planet in our solar system.",
            "Is it bigger than the Earth?",
            "yes|bigger|larger",
        ),
    )
    + _remembered(
        (
            "Anna's birthday is on the twelfth of March.",
            "When is Anna's birthday?",
            ("twelfth of march|12th of march|march 12*|march twelfth|12 march",),
            "thirteenth|13th",
        ),
        (
            "The spare key for the shed is under the blue flowerpot.",
            "Where is the spare key for the shed?",
            ("blue flowerpot|blue flower pot",),
            "",
        ),
        ("Ben is allergic to peanuts.", "What is Ben allergic to?", ("peanut*",), ""),
        ("The wifi password is sunflower42.", "What is the wifi password?", ("sunflower42|sunflower 42",), ""),
        ("My dentist appointment is on Friday at 3 pm.", "When is my dentist appointment?", ("friday", "3|three"), ""),
        (
            "The plumber's phone number is 555 0192.",
            "What is the plumber's number?",
            ("555 0192|5550192|555-0192",),
            "",
        ),
        ("Grandma's cat is called Whiskers.", "What is grandma's cat called?", ("whiskers",), ""),
        ("The bins go out on Tuesday evenings.", "When do the bins go out?", ("tuesday*",), ""),
        ("Tom's flight lands at 6:45 on Sunday.", "When does Tom's flight land?", ("6:45|6.45|six forty-five",), ""),
        ("The car is due for a service in October.", "When is the car due for a service?", ("october",), ""),
        (
            "Mia's school play is on the third of June.",
            "When is Mia's school play?",
            ("third of june|3rd of june|june 3*|june third|3 june",),
            "",
        ),
        ("We keep the first aid kit in the hallway cupboard.", "Where is the first aid kit?", ("hallway",), ""),
        ("Leo's shoe size is 38.", "What is Leo's shoe size?", ("38|thirty-eight|thirty eight",), ""),
        (
            "The boiler was serviced on the fourteenth of January.",
            "When was the boiler serviced?",
            ("fourteenth of january|14th of january|january 14*|january fourteenth|14 january",),
            "",
        ),
        ("Uncle Joe's new address is 27 Elm Street.", "What is uncle Joe's address?", ("27|twenty-seven", "elm"), ""),
        ("The neighbours' dog is called Biscuit.", "What is the neighbours' dog called?", ("biscuit",), ""),
    )
)
