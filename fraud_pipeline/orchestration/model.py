"""Model domain: the text model's training, evaluation and packaging (see scoring/).

Wired when the scoring package provides them; until then this module contributes nothing and
says so in the definitions' metadata.
"""
