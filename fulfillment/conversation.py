"""The conversation parts of a turn, in the order the pipeline runs them.

* **dialog stages** answer a turn that continues a dialog an earlier answer opened, before
  anything is searched: a specialty bot (:mod:`fulfillment.routing`), an elicited response
  (:mod:`fulfillment.elicit`), a quiz (:mod:`fulfillment.quiz`);
* **follow-ups** change an item's answer once it is chosen: caching a QID intent's slot values
  (:mod:`fulfillment.qid_slots`), conditional chaining (:mod:`fulfillment.chaining`), then
  opening the dialog the final item asks for;
* **built-in hooks** play QnABot's ``QNA:`` hooks (:mod:`fulfillment.builtin_hooks`).

Example:
    >>> [s.name for s in dialog_stages(Services(None, None, None))]  # doctest: +SKIP
    ['bot_routing', 'elicit', 'quiz']
"""

from __future__ import annotations

from typing import Protocol

from fulfillment.builtin_hooks import BuiltinHooks
from fulfillment.chaining import ChainingStep
from fulfillment.elicit import ElicitStage, ElicitStart
from fulfillment.model import Answer
from fulfillment.pipeline import Services, Stage, TurnState
from fulfillment.qid_slots import SlotCacheStep
from fulfillment.quiz import QuizStage
from fulfillment.response_bots import ResponseBotRouter
from fulfillment.routing import RoutingStage, RoutingStart, SpecialtyBots


class FollowUp(Protocol):
    """A step that may change an item's answer after it is chosen."""

    name: str

    def apply(self, state: TurnState, answer: Answer) -> Answer:
        ...


def _specialty_bots(services: Services) -> SpecialtyBots:
    return services.specialty_bots or SpecialtyBots(hooks=services.hooks)


def dialog_stages(services: Services) -> list[Stage]:
    """The stages that continue an open dialog, in QnABot's order of precedence."""
    bots = services.response_bots or ResponseBotRouter()
    return [RoutingStage(_specialty_bots(services)), ElicitStage(bots), QuizStage()]


def follow_ups(services: Services) -> list[FollowUp]:
    """Slot caching, chaining, then the dialog (response or routing) the final item opens."""
    return [SlotCacheStep(), ChainingStep(), ElicitStart(), RoutingStart(_specialty_bots(services))]


def builtin_hooks(services: Services) -> BuiltinHooks:
    """QnABot's ``QNA:`` hooks (feedback is recorded with the turn's metrics)."""
    return BuiltinHooks()
