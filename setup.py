"""The one compiled part of vpnet: the fast path of the NTU ``.skeleton`` reader.

``optional=True``: where no C compiler is found the install still succeeds and
``vpnet.data.ntu.read_skeleton`` uses its numpy reader (same results, 4-6x slower);
``vpnet info`` says which one is in use. Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("vpnet.data._skeleton", ["src/vpnet/data/_skeleton.c"], optional=True)])
