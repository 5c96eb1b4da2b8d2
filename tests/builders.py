"""Small builders of test data, shared by test packages."""


def qna_raw(qid: str, question: str = "How are you?", answer: str = "Fine.", **fields) -> dict:
    """A QnA item in QnABot's JSON format, with a question and an answer."""
    return {"qid": qid, "q": [question], "a": answer, **fields}
