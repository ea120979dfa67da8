"""Analysis recipes: one job per analysis, shared by the CLI and the GUI (Qt-free).

A :class:`Recipe` is an analysis the workbench runs: a name, an options dataclass
whose defaults are the analysis' defaults (defined once, here in the core), a job
(``run(options, context, cancel)``, a generator yielding
:class:`eegmi.jobs.Progress` and returning the result) and ``summary(result)``, the
JSON-able numbers a user reads (the same numbers whether the CLI or a panel ran it).

A panel's exported state *is* ``state_of(recipe, options, context)``:
``{"recipe", "options", "model", "data"}``. :func:`rerun_job` re-runs such a state
headless (``eegmi rerun STATE.json``), which is how a figure's numbers are
reproduced and how the tests check that the GUI and the CLI agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from eegmi.errors import ConfigError
from eegmi.jobs import CancelToken, Job, Progress

#: version of the exported-state layout (bumped when its keys change meaning)
STATE_VERSION = 1


class RecipeOptions(Protocol):
    """What a recipe's options dataclass offers: ``to_json()`` and ``from_json(d)``."""

    def to_json(self) -> dict[str, Any]: ...


OptionsT = TypeVar("OptionsT")
ResultT = TypeVar("ResultT")


@dataclass
class RecipeContext:
    """What a recipe runs on besides its options.

    Attributes
    ----------
    model
        The model spec as the user named it (bundled name or checkpoint folder);
        empty for recipes that need no model.
    loaded
        The ``LoadedModel`` (the GUI passes the one it holds; :func:`rerun_job`
        loads ``model``). None for recipes that need no model.
    data
        Dataset spec (``"synthetic"`` or a path) the user chose, or None for the
        model's own training source.
    device
        Torch device for the job.
    extra
        Recipe-specific objects the caller already holds (e.g. the GUI's loaded
        ``EEGData``); never part of the exported state.
    """

    model: str = ""
    loaded: Any = None
    data: str | None = None
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe(Generic[OptionsT, ResultT]):
    """One analysis: options type, job and summary.

    Attributes
    ----------
    name
        Registry key and the ``"recipe"`` of an exported state.
    options_type
        Dataclass with ``to_json()`` and classmethod ``from_json(d)``; its defaults
        are the analysis' defaults for both the CLI and the GUI.
    run
        ``run(options, context, cancel) -> Job[R]``.
    summary
        ``summary(result) -> dict`` of JSON-able numbers (finite floats, lists, str).
    needs_model
        False for recipes that run on data alone.
    """

    name: str
    options_type: type[OptionsT]
    run: Callable[[OptionsT, RecipeContext, CancelToken | None], Job[ResultT]]
    summary: Callable[[ResultT], dict[str, Any]]
    needs_model: bool = True

    def options(self, values: Mapping[str, Any] | None = None) -> OptionsT:
        """Options from JSON values (the defaults when None); unknown keys refused."""
        if values is None:
            return self.options_type()
        from_json = getattr(self.options_type, "from_json", None)
        if from_json is None:
            raise ConfigError(f"recipe {self.name!r}: its options cannot be read from JSON")
        return from_json(dict(values))


#: every recipe, by name (filled by :func:`register` when a recipe module is imported)
REGISTRY: dict[str, Recipe[Any, Any]] = {}


def register(recipe: Recipe[OptionsT, ResultT]) -> Recipe[OptionsT, ResultT]:
    """Add ``recipe`` to :data:`REGISTRY` (its name must be new)."""
    if recipe.name in REGISTRY and REGISTRY[recipe.name] is not recipe:
        raise ConfigError(f"two recipes are named {recipe.name!r}")
    REGISTRY[recipe.name] = recipe
    return recipe


def state_of(recipe: Recipe[Any, Any], options: Any, context: RecipeContext) -> dict[str, Any]:
    """The exported state that re-runs ``recipe`` with ``options`` headless."""
    return {"state_version": STATE_VERSION, "recipe": recipe.name,
            "options": options.to_json(), "model": context.model, "data": context.data}


def read_state(state: Mapping[str, Any]) -> tuple[Recipe[Any, Any], Any, RecipeContext]:
    """Recipe, options and context (without a loaded model) of an exported state.

    Raises
    ------
    ConfigError
        Not a recipe state, an unknown recipe, or options the recipe refuses.
    """
    from eegmi.recipes import all_recipes

    if not isinstance(state, Mapping) or "recipe" not in state:
        raise ConfigError("not an analysis state: no 'recipe' key (export a panel's state "
                          "from the workbench, File › Export panel)")
    version = state.get("state_version", STATE_VERSION)
    if version != STATE_VERSION:
        raise ConfigError(f"state version {version!r} is not {STATE_VERSION}")
    recipes = all_recipes()
    name = state["recipe"]
    if name not in recipes:
        raise ConfigError(f"unknown recipe {name!r} (known: {', '.join(sorted(recipes))})")
    recipe = recipes[name]
    options = recipe.options(state.get("options") or {})
    model = state.get("model") or ""
    data = state.get("data")
    if not isinstance(model, str) or not (data is None or isinstance(data, str)):
        raise ConfigError("state 'model' and 'data' must be strings")
    return recipe, options, RecipeContext(model=model, data=data)


def rerun_job(state: Mapping[str, Any], device: str = "cpu",
              cancel: CancelToken | None = None) -> Job[tuple[Recipe[Any, Any], Any]]:
    """Re-run an exported state headless: load its model, run its recipe.

    Returns (as the job's result) ``(recipe, result)``.
    """
    recipe, result, _loaded = yield from rerun_loaded_job(state, device, cancel)
    return recipe, result


def rerun_loaded_job(state: Mapping[str, Any], device: str = "cpu",
                     cancel: CancelToken | None = None
                     ) -> Job[tuple[Recipe[Any, Any], Any, Any]]:
    """:func:`rerun_job` that also returns the model it loaded (None for a recipe that
    needs none): ``(recipe, result, loaded)``, e.g. for a figure drawn with its operator."""
    recipe, options, context = read_state(state)
    context.device = device
    if recipe.needs_model:
        if not context.model:
            raise ConfigError(f"recipe {recipe.name!r} needs a model, the state names none")
        from eegmi.training.checkpoint import load_checkpoint

        yield Progress(0, 0, f"loading {context.model}")
        context.loaded = load_checkpoint(context.model, device=device)
    result = yield from recipe.run(options, context, cancel)
    return recipe, result, context.loaded
