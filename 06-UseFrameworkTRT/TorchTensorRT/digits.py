"""03-BuildEngineByTensorRTAPI/DigitsCNN/digits.py: the data, and nothing else (no torch, no TensorRT).

scikit-learn's handwritten digits (`sklearn.datasets.load_digits()`: 1797 real 8x8 images with values 0..16,
shipped inside the package, so nothing is downloaded), scaled to [0, 1], resized to the slides' 1x28x28 input
with a bilinear resize written here in numpy, and split by a seeded permutation into a fixed training set of 1437
images and a test set of 360.

    images, labels = load("train")   # float32 [1437, 1, 28, 28] in [0, 1], int32 [1437]
    images, labels = load("test")    # float32 [360, 1, 28, 28], int32 [360]

`python3 digits.py digits_data.npz` writes both splits into one .npz (train_images, train_labels, test_images,
test_labels) for main.cpp, which cannot call scikit-learn.
"""
import sys

import numpy as np

SIZE = 28  # the input of the slides' CNN: 1 x 28 x 28
N_TRAIN, N_TEST = 1437, 360  # 80 % / 20 % of the 1797 images
SEED = 31193


def resize_matrix(n_in, n_out):
    """[n_out, n_in] bilinear interpolation weights with half-pixel centres (`align_corners=False`, as
    torch.nn.functional.interpolate and cv2.resize): output pixel o samples the input at (o + 0.5) * n_in / n_out
    - 0.5, clamped to the edge pixels."""
    position = np.clip((np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    weight_high = position - low
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    matrix[np.arange(n_out), low] += 1 - weight_high
    matrix[np.arange(n_out), high] += weight_high
    return matrix


def resize_bilinear(images, size):
    """[N, h, w] -> [N, size, size]: bilinear resize, separable (rows, then columns), in float64."""
    rows = resize_matrix(images.shape[1], size)
    columns = resize_matrix(images.shape[2], size)
    return np.einsum("oh,nhw,pw->nop", rows, images.astype(np.float64), columns)


def load(split):
    """(images float32 [N, 1, 28, 28] in [0, 1], labels int32 [N]) of split "train" or "test"."""
    from sklearn.datasets import load_digits  # imported here: `python3 -c "import digits"` stays light

    if split not in ("train", "test"):
        raise ValueError(f'split must be "train" or "test", not {split!r}')
    digits = load_digits()
    images = resize_bilinear(digits.images / 16.0, SIZE).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int32)
    order = np.random.default_rng(SEED).permutation(len(labels))
    chosen = order[:N_TRAIN] if split == "train" else order[N_TRAIN:N_TRAIN + N_TEST]
    return np.ascontiguousarray(images[chosen]), np.ascontiguousarray(labels[chosen])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 digits.py OUTPUT.npz")
    train_images, train_labels = load("train")
    test_images, test_labels = load("test")
    np.savez(sys.argv[1], train_images=train_images, train_labels=train_labels, test_images=test_images,
             test_labels=test_labels)
    print(f"wrote {sys.argv[1]}: train {train_images.shape} {train_labels.shape}, "
          f"test {test_images.shape} {test_labels.shape}")
