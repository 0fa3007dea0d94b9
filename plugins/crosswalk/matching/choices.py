"""What a clerical reviewer can answer, and what each answer records (light: imported at DAG parse time)."""

SAME, DIFFERENT, UNSURE = "Same person", "Different people", "Not sure: leave in the queue"
OPTIONS = [SAME, DIFFERENT, UNSURE]
OUTCOMES = {SAME: "match", DIFFERENT: "no_match"}
