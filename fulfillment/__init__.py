"""Fulfillment: what a person chatting with the bot, or calling it, experiences.

Where things are:

* ``handler``: the Lambda entry point for Amazon Lex V2 (thin: parse, run, respond, log);
* ``lex_event`` / ``lex_response``: the Lex V2 event and response <-> typed objects (``model``);
* ``pipeline``: the turn service and its cascade of stages (qna, text, kendra, knowledge_base,
  no_hits);
* ``memory``: chat history per user (the ``UserStore`` port, SQLite here, DynamoDB in AWS);
* ``query_rewrite`` and ``prompts``: follow-ups made standalone, prompts within the token limit;
* ``llm``: the ``LLM`` port and its adapters (disabled, Bedrock, a Lambda plugin, scripted);
* ``retrieval``, ``kendra``, ``knowledge_base_retrieval``: passages from outside the knowledge
  base;
* ``render``, ``sanitize``: markdown, SSML and cards, made safe;
* ``templating``, ``templated_answer``, ``s3_urls``: QnABot's Handlebars in curated answers
  (values escaped), applied to every answer field, and ``signS3URL`` links;
* ``hooks``: items' lambda hooks, only with the allowed prefix.
"""
