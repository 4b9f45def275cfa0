"""Identity subsets for small datasets (the demo): fewer identities, more images each."""
from types import SimpleNamespace

import numpy as np

from synth.identities import IdentityConfig, plan_identities


def _library(num_models=10, colors=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)):
    models = [SimpleNamespace(name=f"m{i:02d}", type_id=1 + i % 9, colors=colors, fixed_color=False)
              for i in range(num_models)]
    models.append(SimpleNamespace(name="bus", type_id=7, colors=(1,), fixed_color=True))
    return models


def test_subset_limits_models_and_colours():
    plan = plan_identities(_library(), 600, seed=3, config=IdentityConfig(max_models=4, colors_per_model=2))
    models = {ident.model_name for ident in plan.identities}
    assert len(models) == 4
    for name in models - {"bus"}:
        assert sum(ident.model_name == name for ident in plan.identities) == 2
    assert sum(ident.num_images for ident in plan.identities) == 600
    assert min(ident.num_images for ident in plan.identities) >= 60


def test_subset_options_off_leave_the_default_plan_unchanged():
    default = plan_identities(_library(), 500, seed=1)
    explicit = plan_identities(_library(), 500, seed=1, config=IdentityConfig(max_models=0, colors_per_model=0))
    assert np.array_equal(default.sample_identity, explicit.sample_identity)
    assert default.identities == explicit.identities
