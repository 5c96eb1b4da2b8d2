"""AWS Lambda entry point of the content designer's admin API and pages.

:func:`lambda_handler` resolves API Gateway (REST, proxy integration) events with the one app
of :mod:`content_designer.api`. API Gateway's Cognito authorizer guards the admin routes and
the app checks its claims again. Jobs go to the stack's import/export bucket
(:class:`content_designer.jobs_s3.S3JobQueue`), where the import/export Lambda runs them;
feedback is kept in the same bucket (:class:`content_designer.feedback_s3.S3FeedbackLog`).

Environment: :mod:`knowledge.backends`'s variables, plus ``IMPORT_EXPORT_BUCKET``. Everything
is built once per container, on the first request.

Example:
    >>> lambda_handler(api_gateway_event, lambda_context)["statusCode"]  # doctest: +SKIP
    200
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from content_designer.api import create_app
from content_designer.feedback_s3 import S3FeedbackLog
from content_designer.services import DesignerServices, cognito_authorizer
from knowledge.backends import ConfigurationError, open_knowledge_base, open_settings_repo

logger = Logger(service="qnabot-designer")

#: Lambda's only writable folder: the embedding cache lives here between invocations.
LAMBDA_HOME = Path("/tmp/qnabot")


@cache
def services() -> DesignerServices:
    """The services of this container (the OpenSearch knowledge base, in AWS)."""
    from content_designer.jobs_s3 import S3JobQueue

    bucket = os.environ.get("IMPORT_EXPORT_BUCKET", "").strip()
    if not bucket:
        raise ConfigurationError("set IMPORT_EXPORT_BUCKET to the stack's import/export bucket")
    LAMBDA_HOME.mkdir(parents=True, exist_ok=True)
    kb = open_knowledge_base(LAMBDA_HOME)
    repo = open_settings_repo(LAMBDA_HOME)
    return DesignerServices(kb=kb, settings_repo=repo, jobs=S3JobQueue(bucket),
                            feedback=S3FeedbackLog(bucket), authorize=cognito_authorizer,
                            environment={"import_export_bucket": bucket})


@cache
def app() -> APIGatewayRestResolver:
    """The admin API of this container."""
    return create_app(services())


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway -> the admin API and the designer page."""
    return app().resolve(event, context)
