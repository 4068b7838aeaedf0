"""The VPN model (Das et al., ECCV 2020): backbones, pose backbones, coupler, embedding, losses, weights.

Where each equation lives:

- eq. (1) graph convolution per time step ........ :mod:`vpnet.models.pose` (adjacency: :mod:`vpnet.skeletons`)
- eq. (2) z1, z2, A_S, A_T, A_ST, f' .............. :mod:`vpnet.models.attention`
- eq. (3)-(4) f_s, f_e, P_e, L_e ................. :mod:`vpnet.models.embedding`
- eq. (5)-(6) L, L_a .............................. :mod:`vpnet.models.losses`
- VPN layer, recognizer, variants, builder ........ :mod:`vpnet.models.vpn`
- I3D / 3D ResNeXt-101 ............................ :mod:`vpnet.models.i3d`, :mod:`vpnet.models.resnext3d`
- pretrained weights (fetch, verify, convert) ..... :mod:`vpnet.models.weights`
"""

from vpnet.models.attention import SpatioTemporalCoupler
from vpnet.models.embedding import SpatialEmbedding, embedding_loss
from vpnet.models.i3d import KINETICS400, InceptionI3d, inception_i3d
from vpnet.models.losses import LossTerms, attention_regularizer, vpn_loss
from vpnet.models.pose import GCNPoseBackbone, LSTMPoseBackbone
from vpnet.models.resnext3d import ResNeXt3d, resnext3d_101
from vpnet.models.vpn import VPN, ClassifierHead, VPNOutput, VPNRecognizer, build_backbone, build_recognizer

__all__ = [
    "VPN", "VPNOutput", "VPNRecognizer", "ClassifierHead", "build_recognizer", "build_backbone",
    "InceptionI3d", "inception_i3d", "KINETICS400", "ResNeXt3d", "resnext3d_101",
    "GCNPoseBackbone", "LSTMPoseBackbone", "SpatioTemporalCoupler", "SpatialEmbedding", "embedding_loss",
    "LossTerms", "vpn_loss", "attention_regularizer",
]
