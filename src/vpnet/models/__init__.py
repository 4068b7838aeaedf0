"""The VPN model (Das et al., ECCV 2020): backbones, pose backbones, coupler, embedding, losses, weights.

Where each equation lives:

- eq. (1) graph convolution per time step ........ :mod:`vpnet.models.pose` (adjacency: :mod:`vpnet.skeletons`)
- eq. (2) z1, z2, A_S, A_T, A_ST, f' .............. :mod:`vpnet.models.attention`
- eq. (3)-(4) f_s, f_e, P_e, L_e ................. :mod:`vpnet.models.embedding`
- eq. (5)-(6) L, L_a .............................. :mod:`vpnet.models.losses`
- VPN layer, recognizer, variants, builder ........ :mod:`vpnet.models.vpn`
- I3D / 3D ResNeXt-101 ............................ :mod:`vpnet.models.i3d`, :mod:`vpnet.models.resnext3d`
- pretrained weights, checkpoint files ........... :mod:`vpnet.models.weights` (a package)
- DeepMind checkpoint conversion .................. :mod:`vpnet.models.i3d_deepmind`

Importing this package is cheap: each name loads its module (and torch) on first use, so
``vpnet weights list`` and ``from vpnet.models import weights`` stay torch-free.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "VPN": "vpn", "VPNOutput": "vpn", "VPNRecognizer": "vpn", "ClassifierHead": "vpn", "build_recognizer": "vpn",
    "build_backbone": "vpn",
    "InceptionI3d": "i3d", "inception_i3d": "i3d", "KINETICS400": "weights",
    "ResNeXt3d": "resnext3d", "resnext3d_101": "resnext3d",
    "GCNPoseBackbone": "pose", "LSTMPoseBackbone": "pose",
    "SpatioTemporalCoupler": "attention",
    "SpatialEmbedding": "embedding", "embedding_loss": "embedding",
    "LossTerms": "losses", "vpn_loss": "losses", "attention_regularizer": "losses",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"vpnet.models.{_LAZY[name]}"), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = list(_LAZY)
