"""The corruption benchmark's reference package, imagecorruptions (Michaelis et al., 2019: the
ImageNet-C corruptions of Hendrycks and Dietterich for any image size), as the agreement tests
and bench/corruption_agreement.py call it, and the agreement measures they apply.

imagecorruptions 1.1.2 (the newest on PyPI) predates NumPy 2 and scikit-image 0.19: it passes
`multichannel=True` to skimage.filters.gaussian and uses np.float_. Two shims restore what those
meant (channel_axis=-1; float64) without touching the package's code.
"""
import numpy as np

if not hasattr(np, "float_"):
    np.float_ = np.float64

import imagecorruptions  # noqa: E402
import imagecorruptions.corruptions as _icc  # noqa: E402

_skimage_gaussian = _icc.gaussian


def _gaussian(image, sigma=1, multichannel=None, **kwargs):
    if multichannel:
        kwargs["channel_axis"] = -1
    return _skimage_gaussian(image, sigma=sigma, **kwargs)


_icc.gaussian = _gaussian

# Per the benchmark: the 15 of the mean corruption error, then the 4 held out.
NAMES = imagecorruptions.get_corruption_names("all")
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow", "frost",
          "fog", "elastic_transform", "spatter"}


def reference(images, name, severity, seed=0):
    """imagecorruptions.corrupt on each image (uint8 N x H x W x 3), NumPy's global generator
    seeded once: uint8 N x H x W x 3, as the package returns it (np.uint8 of the float result:
    truncated, not rounded)."""
    np.random.seed(seed)
    return np.stack([imagecorruptions.corrupt(im, corruption_name=name, severity=severity) for im in images])


def as_reference_bytes(x):
    """modelgate's float N x C x H x W in [0, 1] quantised as the package quantises: N x H x W x C
    uint8, truncated (the 1e-4 absorbs float32's representation of k/255)."""
    return np.floor(x.astype(np.float64).transpose(0, 2, 3, 1) * 255 + 1e-4).clip(0, 255).astype(np.uint8)


def mean_abs_diff(a, b):
    """Mean absolute difference of two uint8 arrays, in levels of 255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def perturbation_stats(corrupted, clean):
    """Mean and standard deviation of corrupted − clean over every element, in levels of 255."""
    d = corrupted.astype(np.float64) - clean.astype(np.float64)
    return float(d.mean()), float(d.std())
