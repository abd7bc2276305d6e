"""Made-up household memories: distractors for the retrieval test and the benchmark (deterministic)."""

from __future__ import annotations

import random

PEOPLE = ("Anna", "Ben", "grandma", "Tom", "the neighbours", "my sister", "my boss", "Leo", "Mia", "uncle Joe")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Saturday", "Sunday", "next week", "tomorrow")
TIMES = ("at 9", "at 10:30", "at noon", "at 2", "at 4", "in the evening", "after lunch", "at 7")
TEMPLATES = (
    "my {thing} appointment is on {day} {time}",
    "{person} is coming for dinner on {day}",
    "the {thing} needs fixing before {day}",
    "{person} likes {food} but not {food2}",
    "we are out of {food}, buy more {day}",
    "{person}'s birthday is on {day}",
    "the bins go out on {day} {time}",
    "I left my {item} in the {room}",
    "the {room} light flickers {time}",
    "remind {person} about the {thing} on {day}",
    "what's the weather like on {day}",
    "play some {music} in the {room}",
    "{person} called about the {thing}",
    "the wifi password is on the {item} in the {room}",
    "my {thing} meeting moved to {day} {time}",
)
THINGS = ("doctor", "car service", "haircut", "bank", "school", "gym", "vet", "boiler", "tax", "piano lesson")
FOOD = ("pasta", "rice", "apples", "cheese", "coffee", "bread", "fish", "olives", "chocolate", "tea")
ITEMS = ("keys", "glasses", "wallet", "phone", "umbrella", "charger", "notebook", "scarf")
ROOMS = ("kitchen", "hallway", "bedroom", "garage", "living room", "bathroom", "study")
MUSIC = ("jazz", "rock", "piano music", "the radio", "podcasts", "classical music")


def distractors(n: int, seed: int = 7) -> list[str]:
    """``n`` plausible, varied household sentences; none is about a dentist."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        food, food2 = rng.sample(FOOD, 2)
        text = rng.choice(TEMPLATES).format(
            thing=rng.choice(THINGS),
            day=rng.choice(DAYS),
            time=rng.choice(TIMES),
            person=rng.choice(PEOPLE),
            food=food,
            food2=food2,
            item=rng.choice(ITEMS),
            room=rng.choice(ROOMS),
            music=rng.choice(MUSIC),
        )
        out.append(text[:1].upper() + text[1:] + ("." if i % 3 else f" (note {i})."))
    return out
