"""configs.Family: the one get/serialize/deserialize of initializers, regularizers and constraints."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_cnn import configs, constraints, initializers, regularizers

MODULES = [initializers, regularizers, constraints]
BASES = {initializers: initializers.Initializer, regularizers: regularizers.Regularizer,
         constraints: constraints.Constraint}


def identifiers():
    """(module, identifier) for every string a family's get knows."""
    return st.sampled_from(MODULES).flatmap(
        lambda m: st.tuples(st.just(m), st.sampled_from(sorted({*m.FAMILY.names, *m.FAMILY.classes}))))


@settings(max_examples=40)
@given(identifiers(), st.sampled_from([str.upper, str.title, str]))
def test_every_name_gives_an_object_that_round_trips_through_json(module_and_name, case):
    module, name = module_and_name
    made = module.get(name)
    assert isinstance(made, BASES[module])
    # snake identifiers are matched in any case; class names exactly
    spelled = case(name) if name.islower() else name
    assert module.get(spelled) == made
    config = json.loads(json.dumps(module.serialize(made)))
    assert module.deserialize(config) == made and module.get(config) == made
    assert type(module.get(type(made))) is type(made)


@pytest.mark.parametrize("module", MODULES)
def test_none_instances_classes_and_callables(module):
    made = module.get(module.FAMILY.name)
    assert module.get(None) is None and module.serialize(None) is None
    assert module.get(made) is made

    def own(*args):
        return args

    assert module.get(own) is own
    with pytest.raises(ValueError, match=f"the {module.FAMILY.noun} <function .* is a custom callable, which a config "
                                         f"cannot hold .*'{module.FAMILY.name}'.*save_weights"):
        module.serialize(own)


@pytest.mark.parametrize("module, noun, name", [(initializers, "an initializer", "he_normal"),
                                                (regularizers, "a regularizer", "l2"),
                                                (constraints, "a constraint", "max_norm")])
def test_errors_name_the_family_what_was_given_and_the_fix(module, noun, name):
    family = module.FAMILY
    with pytest.raises(ValueError, match=rf"^unknown {family.noun} 'nope'; known names: .*{name}.* \(or pass "
                                         rf"{family.example.replace('(', '.').replace(')', '.')}, or a callable"):
        module.get("nope")
    with pytest.raises(TypeError, match=rf"^{noun} must be None, a name such as '{name}', an? "
                                        rf"{family.base.__name__} such as .* got float 2.5$"):
        module.get(2.5)
    with pytest.raises(TypeError, match=rf"deserialize takes what serialize returned, .* got str '{name}'; "
                                        rf"for a name such as '{name}' use get"):
        module.deserialize(name)
    with pytest.raises(ValueError, match=rf"^{noun} config must be {{'class_name': one of .*got .*'os.system'"):
        module.get({"class_name": "os.system", "config": {}})


def test_a_config_may_name_a_class_by_its_snake_name_but_not_a_preset():
    assert constraints.get({"class_name": "max_norm", "config": {"max_value": 3}}) == constraints.MaxNorm(3)
    assert initializers.get({"class_name": "he_normal", "config": {"seed": 1}}) == initializers.HeNormal(seed=1)
    # "l1_l2" is L1L2(0.01, 0.01), not a class: a config names the class L1L2 with its arguments
    with pytest.raises(ValueError, match="a regularizer config must be .*L1L2"):
        regularizers.get({"class_name": "l1_l2", "config": {}})


def test_a_family_of_ones_own():
    class Shape(configs.Configured):
        def get_config(self):
            return {}

    class Square(Shape):
        def __init__(self, side=1.0):
            self.side = side

        def get_config(self):
            return {"side": self.side}

    family = configs.Family(Shape, {"Square": Square}, {"square": Square, "unit": lambda: Square(1.0)}, "unit",
                            "Square(2.0)", "() -> area")
    assert family.noun == "shape" and family.get("UNIT") == Square(1.0) and family.get("Square") == Square()
    assert family.deserialize(family.serialize(Square(2.0))) == Square(2.0)
    with pytest.raises(ValueError, match=r"^unknown shape 'circle'; known names: square, unit, Square \(or pass "
                                         r"Square\(2.0\), or a callable \(\) -> area\)$"):
        family.get("circle")
    with pytest.raises(TypeError, match="^a shape must be None, a name such as 'unit', a Shape such as"):
        family.get(1)
