"""Rate-distortion evaluation: aecodec against classical codecs on real photographs.

One concept per module, each importable on its own (nothing heavy happens at import):

- ``dataset``: which images, their content hashes, the Kodak checksum check;
- ``codecs``: every codec behind one interface (name, settings, encode, decode);
- ``metrics``: PSNR, MS-SSIM and perceptual distances, measured alike for every codec;
- ``sweep``: every image x codec x setting, cached and optionally in parallel;
- ``bdrate``: Bjontegaard delta rate;
- ``report``: CompressAI-style JSON, CSV and the BD-rate table; ``plots``: RD figures;
- ``pipeline``: the whole evaluation, as ``aecodec eval`` runs it.

The model never imports this package; this package reaches the model only through
``codec.encode`` and ``codec.decode``.
"""
