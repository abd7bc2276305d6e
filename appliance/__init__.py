"""The appliance: an offline smart speaker for an edge board."""

import os

# numpy's OpenBLAS starts a worker per core, and after every call that worker spins for about
# 0.1 s waiting for more: five 80x201 @ 201x800 products (one Whisper mel) 0.2 s apart kept it
# busy 0.51 s of 1 s.  The appliance's matrices are small (mel filters, the turn model's
# features, the memory search), and on two cores that spinning takes the core that Whisper, the
# LLM or Piper is waiting for.  Set before numpy is first imported; an explicit value stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
