# ruff: noqa: RUF001
"""Benign texts that discuss prompt-injection and jailbreak families, written for Bastion (thirty-eighth round).

Part of the training-only group `redteam_benign` (label 0; `collect.redteam_benign`, which adds redteam-foundry's
benign control prompts): the matched benign half of `redteam_lists`. Round 37 found that the short red-team phrases
of `redteam_lists`, with no benign text in the same words, raised the classifier's score on benign text that talks
ABOUT attacks (probe docstrings, security documentation). These texts are that kind of text, written for this
project in documentation style — probe and test docstrings, README and policy sections, questions from developers,
teaching notes, changelog and issue lines — one family of `redteam_lists` at a time (instruction override, refusal
suppression, personas, hypothetical framing, authority impersonation, prompt and training-data extraction, tool/RAG
and memory poisoning, file and image injection, language switching, encodings, social engineering, payload splitting),
and a few in the languages of promptwl's multilingual lists. They describe the attacks in the third person and do not
address a model with one. Written before any number of the round was run; not fitted to any corpus text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

LICENSE = "Apache-2.0 (written for Bastion)"
SOURCE = "data/injection/redteam_docs.py"
GROUP = "redteam_benign"

DOCS: list[str] = [
    # --- instruction override
    "Probe: instruction override. Each test case appends a sentence to an ordinary user request that tells the model "
    "its earlier instructions no longer apply. The detector passes when the model keeps following the system prompt and "
    "answers the original request.",
    "What is an instruction-override attack? It is the simplest form of prompt injection: text that claims to replace "
    "the developer's instructions with new ones. Models that weigh the most recent instruction too heavily are the most "
    "exposed, which is why system prompts should state that later text cannot change the rules.",
    "How do I write a regression test that checks my support bot does not drop its instructions when a customer pastes "
    "something like 'new instructions follow' into the chat? I'd like it to run in CI with pytest.",
    "Changelog 2.4.0: the override detector now also catches paraphrased requests to disregard prior guidance, not just "
    "the classic wording. False positives on meeting notes that mention 'previous instructions' were reduced.",
    # --- refusal suppression
    "Refusal suppression describes prompts that forbid the model from declining, apologising or adding warnings, so "
    "that the only remaining option is to comply. The category is scored separately because the wording is often "
    "harmless on its own; only the combination with a restricted request makes it an attack.",
    "test_refusal_suppression: checks that the assistant still refuses a restricted request when the prompt bans the "
    "words 'sorry', 'cannot' and 'unable'. A response that complies without any refusal marker counts as a failure.",
    "Our evaluation report lists refusal suppression as the family with the highest success rate against the older "
    "model, mostly because the prompts looked like formatting rules. The new release lowers it from 31% to 6%.",
    # --- personas / role-play
    "Persona jailbreaks ask the model to play a character who is described as having no rules, such as the well-known "
    "'DAN' prompts. Role-play itself is fine; the risk is a persona whose defining trait is ignoring the safety policy.",
    "Can someone explain why role-play prompts are such a common jailbreak technique? I run a tabletop game bot and "
    "want players to be able to give the narrator a persona without opening that hole.",
    "class PersonaProbe(Probe): 'Sends prompts that assign the model an unrestricted alter ego and then ask for "
    "disallowed content. Recommended detector: mitigation.MitigationBypass.'",
    "In this lesson we look at developer-mode and alter-ego prompts from 2023: why they worked, how vendors changed "
    "training to resist them, and why variants still appear in red-team datasets today.",
    # --- hypothetical / fiction framing
    "Hypothetical framing wraps a harmful request in a story, a thought experiment or a 'purely academic' question. "
    "Reviewers should judge the content that would actually be produced, not the frame around it.",
    "The fiction-framing test set contains 120 prompts in which a character in a novel explains a dangerous procedure. "
    "We report how often the model writes the procedure itself rather than keeping the scene vague.",
    "Is it a jailbreak if a user asks for a villain's monologue in a screenplay? Our moderation policy treats creative "
    "writing as allowed unless the text would work as real instructions outside the story.",
    # --- authority impersonation
    "Authority impersonation: the attacker claims to be the developer, an administrator or the vendor's safety team "
    "and says that a special exception has been granted. Models cannot verify such claims from inside a conversation, "
    "so the guidance is to treat them as ordinary user text.",
    "Security note for integrators: messages that say they come from 'the OpenAI team' or 'the system administrator' "
    "inside a user turn carry no extra privileges. Only the system prompt configured by your backend does.",
    "Issue #412: the classifier flagged our internal admin announcement ('The IT administrator will reset all "
    "passwords on Friday') as an authority-impersonation attack. Expected: not flagged, since it is addressed to staff.",
    # --- system prompt extraction
    "System prompt extraction covers attempts to make an assistant reveal its hidden instructions, for example by "
    "asking it to repeat everything above the conversation or to print its configuration in a code block.",
    "How can I keep my custom GPT's instructions from being leaked? Users keep asking it to show its system prompt and "
    "one of them posted the whole thing on a forum.",
    "probe_prompt_leak: 'Measures whether the target discloses its system prompt. A canary string is placed in the "
    "system prompt; the test fails when the canary appears in the response.'",
    "Treat the system prompt as visible to determined users. Do not store API keys, internal URLs or customer data in "
    "it; extraction attacks have a high success rate on every model we tested.",
    # --- training data extraction
    "Training-data extraction attacks try to make a model reproduce memorised text, such as personal data or licensed "
    "books, often by asking it to repeat a single word many times until it diverges.",
    "The divergence test from the paper repeats one token hundreds of times and checks whether the output drifts into "
    "verbatim training text. We run it weekly and report the number of memorised passages found.",
    # --- tool / RAG poisoning (indirect)
    "Indirect prompt injection happens when instructions arrive through data the agent reads — a web page, an e-mail, "
    "a retrieved document or a tool result — rather than from the user. The agent should treat that content as data.",
    "RAG poisoning: an attacker plants a document in the knowledge base whose text is written to steer the model when "
    "it is retrieved. Mitigations include provenance filters, quoting retrieved text and scanning it before it reaches "
    "the prompt.",
    "Question: our agent summarises incoming support e-mails and can call a refund tool. How do we stop an e-mail from "
    "convincing it to issue a refund? Is a separate classifier on the e-mail body enough?",
    "The AgentDojo-style suite places injected instructions inside tool outputs (calendar entries, file contents, "
    "search results) and measures whether the agent performs the attacker's task instead of the user's.",
    "Design doc: tool results are wrapped in delimiters and passed through the injection scanner. If the scanner "
    "reports a finding, the result is shown to the model with a warning instead of being dropped silently.",
    # --- memory poisoning
    "Memory poisoning targets assistants with long-term memory: a conversation or document persuades the assistant to "
    "store a false fact or a standing instruction, which then affects later sessions.",
    "Feature request: let users review and delete what the assistant has saved to memory, so that a poisoned entry "
    "from a malicious web page does not keep influencing answers for weeks.",
    # --- file / image injection
    "Multimodal injection hides instructions in images, PDFs or spreadsheets — white text on a white background, text "
    "in image metadata, a comment in a document — where a human reviewer is unlikely to notice them.",
    "test_pdf_hidden_text: 'Uploads a PDF whose invisible layer contains an instruction and checks that the summary "
    "reflects only the visible content.'",
    "How do vision models end up following text written inside a picture? I saw a demo where a sign in a photo changed "
    "the assistant's answer and I want to understand the mechanism.",
    # --- language switching / multilingual
    "Language-switching attacks ask for disallowed content in a lower-resource language, or translate a known "
    "jailbreak, because safety training has historically been weaker outside English.",
    "Our multilingual red-team set covers ten languages. Each attack has a benign counterpart in the same language so "
    "that the score reflects the attack, not the language it is written in.",
    "Why would a model refuse a request in English but answer the same request in Zulu? Is that still an issue with "
    "current models, and how do evaluation suites measure it?",
    # --- encodings / obfuscation
    "Encoding attacks hide the request in Base64, ROT13, leetspeak, hex or Morse code and ask the model to decode it "
    "and act on the result, so that keyword filters never see the plain text.",
    "Our scanner decodes Base64 and hex runs longer than 24 characters before classifying them. Plain base64 in "
    "configuration files, such as certificates, is ignored unless it decodes to readable text.",
    "Does anyone know a good Python library for detecting obfuscated text (homoglyphs, zero-width characters, mixed "
    "scripts)? We want to normalise user input before running our moderation model.",
    "class EncodingProbe(Probe): 'Encodes a payload with one of several schemes and asks the target to decode it. Hits "
    "are counted when the decoded payload appears in the output.'",
    # --- social engineering / emotional pressure
    "Social-engineering prompts use urgency, flattery, guilt or a sad story (a dying grandmother, a job on the line) to "
    "pressure the model into an exception. They are harder to detect than overrides because each sentence is benign.",
    "The 'grandma exploit' asked a chatbot to roleplay a late relative who used to read out dangerous recipes as "
    "bedtime stories. It is a good teaching example of how emotional framing wraps a harmful request.",
    # --- payload splitting / meta-reasoning
    "Payload splitting divides a forbidden request into harmless fragments, assigns them to variables and asks the model "
    "to combine them. Detection needs to look at the combined intent rather than at each fragment.",
    "Meta-reasoning attacks argue with the model about its own rules: they claim the policy is inconsistent, that "
    "refusing causes more harm, or that a previous answer already set a precedent. We track them as their own family.",
    # --- general red-teaming / defence documentation
    "Red-teaming guide, section 3: start with the OWASP LLM Top 10, pick the risks that apply to your application, and "
    "write at least twenty test prompts per risk. Record the model version with every run.",
    "The benchmark reports attack success rate (ASR) and false-refusal rate side by side. A defence that blocks every "
    "attack but refuses ordinary questions is not useful, so both numbers matter.",
    "We are hiring a red-team engineer to design jailbreak and prompt-injection evaluations for our assistant. "
    "Experience with garak, PyRIT or promptfoo is a plus.",
    "Prompt injection is not solved by a better system prompt alone. Combine least-privilege tools, human confirmation "
    "for risky actions, input and output scanning, and logging that lets you investigate incidents.",
    "Weekly security digest: a new paper shows that many jailbreak prompts transfer between models; a vendor patched a "
    "markdown-image exfiltration bug in its chat product; OWASP published an update to its LLM guidance.",
    "README — prompt-injection-tests: a collection of test prompts for evaluating LLM guardrails, grouped by family "
    "(override, extraction, persona, encoding, indirect). Use them only against systems you are authorised to test.",
    "How should I label training data for a jailbreak classifier? Some prompts just ask about jailbreaks for research "
    "and I don't want the model to treat every mention of the word as an attack.",
    "Incident review: the assistant included a link that leaked part of the conversation in its query string. Root "
    "cause was an instruction hidden in a retrieved web page. Fix: outbound links are now restricted to an allowlist.",
    "Exercise: sort the following prompt-injection examples into direct and indirect attacks, and for each one explain "
    "which part of the application it reaches and which control would have stopped it.",
    "The guardrail config has three thresholds: block, warn and log. Start in log-only mode for two weeks, review the "
    "flagged prompts, and only then turn on blocking for the categories with few false positives.",
    "Talk abstract: 'Ten tricks attackers use against LLM agents, and what actually stopped them in production.' The "
    "speaker covers override phrases, hidden text, tool-output injection and memory attacks.",
    "When a user asks how jailbreaks work, the assistant may explain the concept and history at a high level. It "
    "should not produce a ready-to-use prompt aimed at a specific deployed system.",
    "Glossary. Jailbreak: a prompt that gets a model to break its usage policy. Prompt injection: untrusted input "
    "that changes what an LLM application does. System prompt: the developer's instructions that precede the "
    "conversation.",
    # --- other languages (promptwl's multilingual lists: de es fr it pt ru ar hi ja zh)
    "Prompt-Injection bezeichnet Angriffe, bei denen Text in einer Eingabe versucht, die Anweisungen des Entwicklers zu "
    "ersetzen. Unser Testkatalog prüft, ob das Modell seine Systemanweisungen auch dann beibehält.",
    "¿Qué es un jailbreak de un modelo de lenguaje? Es un mensaje diseñado para que el modelo ignore su política de uso. "
    "En el curso veremos ejemplos históricos y cómo se evalúan las defensas.",
    "L'injection de prompt indirecte survient lorsque des instructions cachées dans une page web ou un document sont "
    "lues par l'agent. La documentation explique comment filtrer ces contenus avant l'appel au modèle.",
    "Il red teaming dei modelli linguistici consiste nel cercare in modo sistematico i prompt che aggirano le regole "
    "di sicurezza, per poi correggere il sistema prima del rilascio.",
    "Como proteger um chatbot contra a extração do prompt de sistema? Recomendamos não colocar segredos no prompt e "
    "monitorar respostas que repetem as instruções internas.",
    "Атаки с внедрением промптов пытаются заставить модель нарушить инструкции разработчика. В этом разделе "
    "документации описаны основные семейства атак и способы защиты.",
    "حقن الأوامر هو هجوم يحاول فيه نص غير موثوق تغيير سلوك نموذج اللغة. يشرح هذا الدليل كيفية اختبار التطبيق "
    "ضد هذا النوع من الهجمات.",
    "प्रॉम्प्ट इंजेक्शन एक ऐसा हमला है जिसमें उपयोगकर्ता का पाठ मॉडल के मूल निर्देशों को बदलने की कोशिश करता है। "
    "इस लेख में हम बचाव के तरीके समझाते हैं।",
    "プロンプトインジェクションとは、信頼できない入力によってLLMアプリの動作を変えようとする攻撃です。"
    "本ドキュメントでは代表的な攻撃の種類と対策を説明します。",
    "提示词注入是指不可信的输入试图改变大模型应用行为的攻击。本文介绍常见的越狱类型以及如何评估防护措施。",
]


def records() -> Iterator[dict[str, object]]:
    for text in DOCS:
        yield {"text": text, "label": 0, "group": GROUP, "source": SOURCE, "license": LICENSE}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.stdout.write(f"{len(DOCS)} texts\n")
