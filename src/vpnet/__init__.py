"""vpnet: VPN, the Video-Pose Network (Das et al., ECCV 2020), in PyTorch.

Importing the package is cheap: submodules load torch and the decoders when they are used.
"""

__version__ = "0.1.0"
