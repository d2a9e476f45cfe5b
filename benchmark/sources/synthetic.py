"""The synthetic video progression of Yu et al. 2024 ("Learning Video Representations without Natural Videos"):
eight levels, each adding one property to the one before, rendered on the fly, deterministic for (seed, index).

Defaults are what the authors' code does (Unicorn53547/Synthetic-Video-Representations: `train_code/dataset_mixed.py`
for the on-the-fly levels 1-5, `generation_code/gen_syn_video.py` for the offline textured levels 6-8):

- a black res x res canvas (256); `objects` (500) objects painted in order, later ones on top;
- radius r = max(int(res * g), 1) px, g from a 200-point grid on [0.1, 1] with weights g^-3 - 1 (sigma 3), the
  grid point whose normalised cumulative weight is nearest a uniform draw (`radius_distribution`);
- integer centre c uniform in [0, 2 res)^2; an object whose centre leaves (-res, 2 res)^2 is skipped in that frame;
- colour uniform in 0..254 per channel; shape kind uniform over `shapes`; polygons live in a local [0, 2r]^2 frame
  whose origin is the centre (circles are centred on it);
- direction U(0, 2 pi), speed v0 ~ U(1.2, 3.0) px/frame, acceleration a ~ U(-0.03, 0.03); at absolute frame t the
  centre is trunc(c + (v0 + a t) t (cos, sin)), the code's closed form (a t^2, not a t^2 / 2);
- affine motion per object: rotation w ~ U(-pi/100, pi/100) rad/frame, x/y scale and shear speeds ~ U(-0.005,
  0.005); frame t maps local points by R(w t) S(1 + s t) Sh(h t) about the pivot (r//2, r//2);
- a video has L frames, L uniform in 100..200 (the on-the-fly code's inclusive random.randint) or 100..199 (the
  offline generator); a clip is `frames` frames `stride` apart from an offset uniform in [0, L - frames * stride],
  at absolute frame indices, so a late window moves faster under acceleration. Only the clip's frames are drawn.

Rendering is exact: a clip equals, pixel for pixel, painting every object of every frame in order on the full
canvas with OpenCV (`cv2.fillPoly` for polygons and `cv2.ellipse` for transformed circles, as the code does). It is
fast because it only paints what can show: objects off the canvas are skipped, and so is any object that no tile
of the canvas shows, a tile being hidden once a later object's inscribed disc covers it (`_visible`); labels are
painted on one uint8 canvas and coloured at the end. Untransformed circles are painted as the code paints them,
`cv2.ellipse(..., 0, 360)` (`circle_raster=ellipse`, the default); `circle_raster=circle` paints the exact disc of
radius r with `cv2.circle` instead, 3-4x cheaper and about half a pixel narrower at the rim (over 1,000+ videos the
number of visible colours per frame differs measurably, so it is not the default).

Each kind of draw has its own random stream, seeded by (seed, video, stream): clip i of a level shows the same
objects as clip i of the level before, plus the new property.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from benchmark.data.images import IMAGE_SUFFIXES, POOLS, ImageError
from benchmark.data.textures import PROCEDURAL, make_textures
from benchmark.errors import BenchError
from benchmark.sources.base import CLIP_SOURCES, ClipSource, ClipSourceEntry

SHAPES = ("circle", "square", "oriented_square", "rectangle", "triangle", "quadrilateral")
CIRCLE = 0
RADIUS_GRID = 200  # points of the code's radius grid
TILES = 20  # occlusion-culling grid per side (about 1 ms of culling per 16-frame clip)
# random streams, one per kind of draw (so levels share the draws they have in common)
LENGTH, CORE, MOTION, SHAPE, AFFINE, TEXTURE, WINDOW, RETRY = range(8)


# ----------------------------------------------------------------------------------------------------------------
# parameters: each level's dataclass adds the keys of the property it adds

def _fail(where: str, key: str, text: str) -> BenchError:
    return BenchError(f"{where}.{key} {text}")


@dataclass
class CirclesParams:
    resolution: int = 256  # canvas side in px (the code's --large-scale)
    objects: int = 500  # objects painted per frame, in order
    radius_min: float = 0.1  # radius grid [radius_min, radius_max] x resolution
    radius_max: float = 1.0
    sigma: float = 3.0  # radius weights g^-sigma - radius_max^-sigma
    length_min: int = 100  # video length in frames, uniform in [length_min, length_max]
    length_max: int = 200  # on-the-fly code: random.randint(100, 200) includes 200
    videos: int | None = None  # None: every clip index is a new video; N: a fixed set of N videos (index % N)
    circle_raster: Literal["ellipse", "circle"] = "ellipse"  # untransformed circles: the code's ellipse, or cv2.circle

    def validate(self, where: str) -> None:
        if self.resolution < 16:
            raise _fail(where, "resolution", f"must be >= 16 px, got {self.resolution}")
        if self.objects < 1:
            raise _fail(where, "objects", f"must be >= 1, got {self.objects}")
        if not self.radius_min > 0:
            raise _fail(where, "radius_min", f"must be > 0 (a fraction of the resolution), got {self.radius_min}")
        if not self.radius_min < self.radius_max <= 1:
            raise _fail(where, "radius_max", f"must be in (radius_min, 1], got {self.radius_max}")
        if self.sigma < 0:
            raise _fail(where, "sigma", f"must be >= 0, got {self.sigma}")
        if self.length_min < 1:
            raise _fail(where, "length_min", f"must be >= 1 frame, got {self.length_min}")
        if self.length_max < self.length_min:
            raise _fail(where, "length_max", f"must be >= length_min ({self.length_min}), got {self.length_max}")
        if self.videos is not None and self.videos < 1:
            raise _fail(where, "videos", f"must be >= 1 or null, got {self.videos}")


@dataclass
class MovingParams(CirclesParams):
    speed_min: float = 1.2  # px/frame (scripts and offline code; the on-the-fly class default is 1.2-1.5)
    speed_max: float = 3.0

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.speed_min < 0:
            raise _fail(where, "speed_min", f"must be >= 0, got {self.speed_min}")
        if self.speed_max < self.speed_min:
            raise _fail(where, "speed_max", f"must be >= speed_min ({self.speed_min}), got {self.speed_max}")


@dataclass
class ShapesParams(MovingParams):
    shapes: list[Literal[SHAPES]] = field(default_factory=lambda: list(SHAPES))  # drawn uniformly

    def validate(self, where: str) -> None:
        super().validate(where)
        if not self.shapes:
            raise _fail(where, "shapes", f"must name at least one of {', '.join(SHAPES)}")


@dataclass
class TransformingParams(ShapesParams):
    rotation_max: float = math.pi / 100  # rad/frame, w ~ U(-max, max)
    scale_speed_max: float = 0.005  # per frame, x and y scale 1 + s t with s ~ U(-max, max)
    shear_speed_max: float = 0.005  # per frame, x and y shear h t with h ~ U(-max, max)
    pivot: Literal["code", "centre"] = "code"  # code: (r//2, r//2) in the local frame; centre: the shape's centre
    # circles: ellipse = the on-the-fly code (axes r (1 + s t), turned by w t read as degrees); none = the offline
    # code (circles never transform); affine = the paper (transformed like every shape)
    circle_affine: Literal["ellipse", "none", "affine"] = "ellipse"

    def validate(self, where: str) -> None:
        super().validate(where)
        for key in ("rotation_max", "scale_speed_max", "shear_speed_max"):
            if getattr(self, key) < 0:
                raise _fail(where, key, f"must be >= 0, got {getattr(self, key)}")


@dataclass
class AcceleratingParams(TransformingParams):
    acceleration_max: float = 0.03  # px/frame^2, a ~ U(-max, max): code 0.03, paper text 0.6, paper Table 8 0.06

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.acceleration_max < 0:
            raise _fail(where, "acceleration_max", f"must be >= 0, got {self.acceleration_max}")


@dataclass
class TexturedParams(AcceleratingParams):
    length_max: int = 199  # offline generator: np.random.randint(100, 200)
    videos: int | None = 9537  # the paper's offline set: 9,537 fixed videos (UCF101 split-1 train size)
    circle_affine: Literal["ellipse", "none", "affine"] = "none"  # offline code: circles never transform
    textures: str = "statistical"  # built-in set (statistical, stylegan-standin), image pool name, or folder
    texture_count: int = 1024  # textures in a built-in bank, kept in memory (the paper: 300k files; slower)
    texture_size: int = 256  # side of a built-in texture
    crop: Literal["top-left", "random"] = "top-left"  # code: the resized texture's top-left 2r x 2r; random: anywhere

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.texture_count < 1:
            raise _fail(where, "texture_count", f"must be >= 1, got {self.texture_count}")
        if self.texture_size < 8:
            raise _fail(where, "texture_size", f"must be >= 8 px, got {self.texture_size}")
        spec = self.textures
        if spec in PROCEDURAL or spec in POOLS:
            return
        folder = Path(spec)
        if not folder.is_dir():
            raise _fail(where, "textures", f"{spec!r} is neither a built-in set ({', '.join(PROCEDURAL)}), an image "
                                            f"pool ({', '.join(POOLS.names())}) nor an existing folder")
        if next((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), None) is None:
            raise _fail(where, "textures", f"folder {spec} holds no images ({', '.join(IMAGE_SUFFIXES[:7])})")


@dataclass
class StyleGANParams(TexturedParams):
    textures: str = "stylegan-standin"  # the StyleGAN-Oriented release as a folder, else the built-in stand-in


@dataclass
class ImageCropParams(TexturedParams):
    textures: str = "bundled"  # image pool: the natural images inside scikit-image/scikit-learn, or a folder


# ----------------------------------------------------------------------------------------------------------------
# the generative process

def radius_distribution(sigma: float = 3.0, radius_min: float = 0.1, radius_max: float = 1.0,
                        resolution: int = 256, points: int = RADIUS_GRID) -> tuple[np.ndarray, np.ndarray]:
    """The code's radius law: radii in px (points,) and the cumulative probability up to each (points,).

    Grid g on [radius_min, radius_max], weights g^-sigma - radius_max^-sigma, normalised cumulative weights C; a
    uniform u picks the grid point whose C is nearest u, so point i has probability mid_i - mid_(i-1) (mid =
    midpoints of consecutive C). The last point has weight 0 and is never drawn.
    """
    g = np.linspace(radius_min, radius_max, points)
    weight = g ** -sigma - (radius_max ** -sigma if sigma > 0 else 0.0)
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    upper = np.append((cdf[1:] + cdf[:-1]) / 2, 1.0)
    return np.maximum((g * resolution).astype(np.int64), 1), upper


def clip_frames(length: int, frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """The code's clip sampler: offset uniform in [0, length - frames * stride]; short videos repeat the end."""
    room = length - frames * stride
    start = int(rng.integers(0, room + 1)) if room >= 0 else 0
    return np.minimum(start + stride * np.arange(frames), length - 1)


@dataclass
class Objects:
    """One video's per-object draws, in painting order (N objects)."""

    length: int
    radius: np.ndarray  # (N,) int px
    centre: np.ndarray  # (N, 2) int px at frame 0
    colour: np.ndarray  # (N, 3) uint8
    direction: np.ndarray  # (N, 2) cos, sin
    speed: np.ndarray  # (N,) px/frame
    acceleration: np.ndarray  # (N,) px/frame^2 (0 below level 5)
    kind: np.ndarray  # (N,) index into SHAPES
    theta: np.ndarray  # (N,) oriented square's turn
    half_angle: np.ndarray  # (N,) rectangle's corner angle
    angles: np.ndarray  # (N, 4) triangle's (first 3) / quadrilateral's corner angles, unsorted
    local: np.ndarray  # (N, 4, 2) polygon corners in the local frame (triangles repeat their last corner)
    pivot: np.ndarray  # (N, 2) affine pivot in the local frame
    rotation: np.ndarray  # (N,) rad/frame
    scale: np.ndarray  # (N, 2) per frame
    shear: np.ndarray  # (N, 2) per frame
    texture: np.ndarray  # (N,) texture index
    offset: np.ndarray  # (N, 2) crop origin in the 2 res x 2 res texture


def _local_corners(kind: np.ndarray, r: np.ndarray, theta: np.ndarray, half_angle: np.ndarray,
                   angles: np.ndarray) -> np.ndarray:
    """Polygon corners in the local [0, 2r]^2 frame with the code's int32 truncations: (N, 4, 2) float.

    square: (0, 0) to (side, side), side = r sqrt 2; oriented square: +-side/2 truncated, turned by theta, moved to
    (r, r); rectangle: (r +- r cos a, r +- r sin a); triangle / quadrilateral: 3 / 4 sorted angles on the circle
    of radius r around (r, r). A triangle repeats its last corner."""
    n = len(r)
    rf = r.astype(np.float64)[:, None]
    out = np.zeros((n, 4, 2))
    side = np.trunc(r * np.sqrt(2))[:, None, None]
    sq = kind == 1
    out[sq] = (np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * side)[sq]
    h = np.trunc(r * np.sqrt(2) / 2)[:, None, None] * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    turned = np.stack([c * h[..., 0] - s * h[..., 1], s * h[..., 0] + c * h[..., 1]], -1) + rf[:, :, None]
    out[kind == 2] = turned[kind == 2]
    ca, sa = (r * np.cos(half_angle))[:, None], (r * np.sin(half_angle))[:, None]
    sign = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]])
    rect = np.trunc(np.stack([sign[:, 0] * ca + rf, sign[:, 1] * sa + rf], -1))
    out[kind == 3] = rect[kind == 3]
    for k, nv in ((4, 3), (5, 4)):
        sel = kind == k
        a = np.sort(angles[sel, :nv], axis=1)
        pts = np.trunc(np.stack([rf[sel] * np.cos(a) + rf[sel], rf[sel] * np.sin(a) + rf[sel]], -1))
        out[sel, :nv] = pts
        if nv == 3:
            out[sel, 3] = pts[:, 2]
    return out


def _apply(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Matrices m (T, N, 2, 2) applied to points x (N, K, 2) or (T, N, K, 2): (T, N, K, 2)."""
    a, b, c, d = (m[..., i, j, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    return np.stack([a * x[..., 0] + b * x[..., 1], c * x[..., 0] + d * x[..., 1]], -1)


def _frame_affine(obj: Objects, t: np.ndarray) -> np.ndarray:
    """R(w t) S(1 + s t) Sh(h t) per frame and object: (2, 2, T, N), entries first."""
    tt = t.astype(np.float64)[:, None]
    a = obj.rotation * tt
    c, s = np.cos(a), np.sin(a)
    sx, sy = 1 + obj.scale[:, 0] * tt, 1 + obj.scale[:, 1] * tt
    hx, hy = obj.shear[:, 0] * tt, obj.shear[:, 1] * tt
    return np.array([[c * sx - s * sy * hy, c * sx * hx - s * sy], [s * sx + c * sy * hy, s * sx * hx + c * sy]])


@dataclass
class Level:
    number: int
    name: str
    title: str  # the paper's name
    moving: bool = True
    shapes: bool = True
    affine: bool = True
    accelerating: bool = True
    textured: bool = False


class SyntheticVideos(ClipSource):
    """One level's clips: `clip(index, frames, stride)` -> uint8 (frames, res, res, 3)."""

    def __init__(self, params: CirclesParams, seed: int, clip_size: int = 0, *, level: Level):
        self.level, self.p, self.seed = level, params, seed
        self.res = params.resolution
        self.radii, self.radius_cdf = radius_distribution(params.sigma, params.radius_min, params.radius_max,
                                                          params.resolution)
        self.textures = None
        if level.textured:
            self.textures = make_textures(params.textures, params.texture_count, params.texture_size)
        self.skipped: set[str] = set()

    # -- draws -----------------------------------------------------------------------------------------------
    def _rng(self, video: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, video, stream])

    def objects(self, video: int) -> Objects:
        p, lv, res, n = self.p, self.level, self.res, self.p.objects
        length = int(self._rng(video, LENGTH).integers(p.length_min, p.length_max + 1))
        core = self._rng(video, CORE)
        radius = self.radii[np.searchsorted(self.radius_cdf, core.random(n))]
        centre = core.uniform(0, 2 * res, (n, 2)).astype(np.int64)
        colour = (core.random((n, 3)) * 255).astype(np.uint8)
        motion = self._rng(video, MOTION)
        angle = motion.uniform(0, 2 * np.pi, n)
        speed = motion.uniform(p.speed_min, p.speed_max, n) if lv.moving else np.zeros(n)
        accel = motion.uniform(-p.acceleration_max, p.acceleration_max, n) if lv.accelerating else np.zeros(n)
        shape = self._rng(video, SHAPE)
        if lv.shapes:
            kinds = np.array([SHAPES.index(s) for s in p.shapes])
            kind = kinds[shape.integers(len(kinds), size=n)]
        else:
            kind = np.zeros(n, np.int64)
        theta, half_angle = shape.uniform(0, 2 * np.pi, n), shape.uniform(0, np.pi / 2, n)
        angles = shape.uniform(0, 2 * np.pi, (n, 4))
        local = _local_corners(kind, radius, theta, half_angle, angles) if lv.shapes else np.zeros((n, 4, 2))
        aff = self._rng(video, AFFINE)
        zero = np.zeros(n)
        if lv.affine:
            rotation = aff.uniform(-p.rotation_max, p.rotation_max, n)
            scale = aff.uniform(-p.scale_speed_max, p.scale_speed_max, (n, 2))
            shear = aff.uniform(-p.shear_speed_max, p.shear_speed_max, (n, 2))
        else:
            rotation, scale, shear = zero, np.zeros((n, 2)), np.zeros((n, 2))
        if lv.affine and p.pivot == "centre":
            pivot = np.where((kind == CIRCLE)[:, None], radius[:, None], local.mean(1))
            tri = kind == 4
            pivot[tri] = local[tri, :3].mean(1)
        else:
            pivot = np.repeat((radius // 2)[:, None], 2, 1).astype(np.float64)
        tex = self._rng(video, TEXTURE)
        texture = tex.integers(len(self.textures), size=n) if self.textures is not None else np.zeros(n, np.int64)
        room = 2 * res - 2 * radius + 1
        offset = (tex.random((n, 2)) * room[:, None]).astype(np.int64)
        if not lv.textured or p.crop == "top-left":
            offset[:] = 0
        return Objects(length, radius, centre, colour, np.stack([np.cos(angle), np.sin(angle)], -1), speed, accel,
                       kind, theta, half_angle, angles, local, pivot, rotation, scale, shear, texture, offset)

    # -- geometry per frame ----------------------------------------------------------------------------------
    def geometry(self, obj: Objects, t: np.ndarray) -> dict[str, np.ndarray]:
        """What the painter needs for frames t (T,) of all N objects, as (T, N, ...) arrays: `drawn`, `box` (the
        raster's bounds x0, y0, x1, y1 with 1 px slack), `disc` (cx, cy, radius of a disc inside the raster), the
        draw arguments (`verts` for polygons; `centre`, `axes`, `angle` for circles) and, for textured levels, the
        texture map (`tm`, `tb`: texture pixel u -> tm u + tb)."""
        res, lv = self.res, self.level
        mode = self.p.circle_affine if lv.affine else "none"
        tt = t.astype(np.float64)[:, None]
        v = obj.speed + obj.acceleration * tt  # (T, N)
        x = (obj.centre[:, 0] + v * obj.direction[:, 0] * tt).astype(np.int64)  # the code's closed form, truncated
        y = (obj.centre[:, 1] + v * obj.direction[:, 1] * tt).astype(np.int64)
        pos = np.stack([x, y], -1)
        mk = _frame_affine(obj, t) if lv.affine else None  # (2, 2, T, N)
        m = mk.transpose(2, 3, 0, 1) if lv.affine else None  # (T, N, 2, 2)
        r = obj.radius.astype(np.float64)
        geo = {"circle_mode": mode, "centre": pos.astype(np.float64), "angle": np.zeros(x.shape)}
        ax = ay = np.broadcast_to(r, x.shape)
        if mode == "ellipse":  # the on-the-fly code: int(r (1 + s t)), turned by w t read as degrees
            ax = np.maximum(np.trunc(r * (1 + obj.scale[:, 0] * tt)), 0)
            ay = np.maximum(np.trunc(r * (1 + obj.scale[:, 1] * tt)), 0)
            geo["angle"] = obj.rotation * tt
        elif mode == "affine":  # the circle's image under the shape's map: an ellipse (rotated rectangle form)
            u, sv, _ = np.linalg.svd(m)
            ax, ay = sv[..., 0] * r, sv[..., 1] * r
            geo["angle"] = np.degrees(np.arctan2(u[..., 1, 0], u[..., 0, 0]))
            geo["centre"] = _apply(m, (r[:, None] - obj.pivot)[:, None])[:, :, 0] + obj.pivot + pos - r[:, None]
        geo["axes"] = np.stack([ax, ay], -1)
        cx, cy = geo["centre"][..., 0], geo["centre"][..., 1]
        reach, inner = np.maximum(ax, ay), np.minimum(ax, ay)
        box = [cx - reach - 1, cy - reach - 1, cx + reach + 1, cy + reach + 1]
        disc = [cx, cy, inner]
        polygon = obj.kind != CIRCLE
        if polygon.any():
            # corners first: (4, T, N); M (x - p) + p about the pivot, then the code's int32 cast
            lx, ly = (obj.local - obj.pivot[:, None]).transpose(2, 1, 0)[:, :, None]
            px, py = obj.pivot[:, 0], obj.pivot[:, 1]
            if m is None:
                vx, vy = np.trunc(lx + px + x), np.trunc(ly + py + y)
            else:
                vx = np.trunc(mk[0, 0] * lx + mk[0, 1] * ly + px + x)
                vy = np.trunc(mk[1, 0] * lx + mk[1, 1] * ly + py + y)
            geo["verts"] = np.stack([vx, vy], -1).astype(np.int32).transpose(1, 2, 0, 3)
            # inscribed disc at the corners' mean: the smallest distance to an edge line, if the mean is inside
            mx, my = (vx[0] + vx[1] + vx[2] + vx[3]) / 4, (vy[0] + vy[1] + vy[2] + vy[3]) / 4
            ex, ey = vx[[1, 2, 3, 0]] - vx, vy[[1, 2, 3, 0]] - vy
            length = np.sqrt(ex * ex + ey * ey)
            valid = length > 0  # a triangle repeats its last corner
            dist = np.where(valid, (ex * (my - vy) - ey * (mx - vx)) / np.where(valid, length, 1), np.nan)
            inside = (np.fmin.reduce(dist, 0) >= 0) | (np.fmax.reduce(dist, 0) <= 0)
            rho = np.where(inside, np.fmin.reduce(np.abs(dist), 0), 0)
            rho = np.nan_to_num(rho, nan=0.0)  # a degenerate polygon covers nothing
            corner = [np.minimum(np.minimum(vx[0], vx[1]), np.minimum(vx[2], vx[3])) - 1,
                      np.minimum(np.minimum(vy[0], vy[1]), np.minimum(vy[2], vy[3])) - 1,
                      np.maximum(np.maximum(vx[0], vx[1]), np.maximum(vx[2], vx[3])) + 1,
                      np.maximum(np.maximum(vy[0], vy[1]), np.maximum(vy[2], vy[3])) + 1]
            box = [np.where(polygon, pc, cc) for pc, cc in zip(corner, box, strict=True)]
            disc = [np.where(polygon, pd, cd) for pd, cd in zip([mx, my, rho], disc, strict=True)]
        geo["box"], geo["disc"] = np.stack(box, -1), np.stack(disc, -1)
        geo["drawn"] = ((x > -res) & (x < 2 * res) & (y > -res) & (y < 2 * res)  # the code skips these centres
                        & (box[2] >= 0) & (box[3] >= 0) & (box[0] < res) & (box[1] < res))
        if lv.textured:
            self._texture_maps(obj, geo, pos, m, r[:, None])
        return geo

    def _texture_maps(self, obj: Objects, geo: dict, pos: np.ndarray, m: np.ndarray | None, r: np.ndarray) -> None:
        """Texture pixel u -> frame pixel tm u + tb: the shape's own map applied to the crop at offset o,
        x = M (u - o - p) + p + pos, minus (r, r) for circles (centred on pos; the texture's [0, 2r]^2 around it)."""
        mode, circle = geo["circle_mode"], (obj.kind == CIRCLE)[:, None]
        eye = np.broadcast_to(np.eye(2), (*pos.shape[:2], 2, 2))
        mm, p = (eye, np.zeros_like(obj.pivot)) if m is None else (m, obj.pivot)
        if mode == "ellipse":  # the drawn ellipse: turned by `angle` degrees, axes / r, about its centre
            turn = np.radians(geo["angle"])
            rot = np.stack([np.stack([np.cos(turn), -np.sin(turn)], -1),
                            np.stack([np.sin(turn), np.cos(turn)], -1)], -2)
            mm = np.where(circle[None, :, :, None], rot * (geo["axes"] / r)[:, :, None, :], mm)
            p = np.where(circle, np.repeat(r, 2, 1), p)
        elif mode == "none":
            mm = np.where(circle[None, :, :, None], eye, mm)
        o = obj.offset.astype(np.float64)
        geo["tm"] = mm
        moved = _apply(mm, np.broadcast_to(o + p, pos.shape)[:, :, None])[:, :, 0]
        geo["tb"] = p - moved + pos - np.where(circle, r, 0)

    # -- painting --------------------------------------------------------------------------------------------
    def _visible(self, drawn: np.ndarray, box: np.ndarray, disc: np.ndarray,
                 roi: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Painter's-order occlusion culling on a grid of TILES x TILES tiles: which (frame, object) pairs can show,
        (T, M) bool, and with `roi` the pixel box [x0, y0, x1, y1) (T, M, 4) of the tiles where they can.

        A tile is covered by an object when a disc inside the object's raster (shrunk by a margin for
        rasterization) holds the whole tile; an object is drawn only if its box meets a tile that no later object
        covers. Conservative, so painting only those objects gives exactly the full painting. (Objects are drawn
        whole on the whole frame: OpenCV outlines shapes with clipped Bresenham lines, so a shape drawn into a
        smaller window is not pixel-identical.) Tile rows are int32 bit masks."""
        nr, g = TILES, np.float32(self.res / TILES)  # tile k holds the pixels x with k g <= x < (k + 1) g
        mid = np.arange(nr, dtype=np.float32) * g + g / 2
        d = disc.astype(np.float32)
        cx = d[..., 0:1] / g
        rho = np.where(drawn, np.float32(0.96) * d[..., 2] - 2, 0)[..., None]
        dy = np.abs(d[..., 1:2] - mid) + g / 2  # farthest distance from the centre row to the tile row's band
        half = np.sqrt(np.maximum(rho * rho - dy * dy, 0)) / g  # half chord at that distance, in tiles
        k0 = np.maximum(np.ceil(cx - half), 0).astype(np.int32)
        k1 = np.minimum(np.floor(cx + half - 1), nr - 1).astype(np.int32)
        cover = np.where(k1 >= k0, (2 << k1) - (1 << k0), 0)
        later = np.bitwise_or.accumulate(cover[:, ::-1], axis=1)[:, ::-1]
        later = np.concatenate([later[:, 1:], np.zeros_like(later[:, :1])], axis=1)
        b = np.clip(np.floor(box / g), 0, nr - 1).astype(np.int32)
        span = np.where(drawn, (2 << b[..., 2]) - (1 << b[..., 0]), 0)
        rows = np.arange(nr, dtype=np.int32)
        inrow = (rows >= b[..., 1:2]) & (rows <= b[..., 3:4])
        need = np.where(inrow, span[..., None], 0) & ~later
        if not roi:
            return need.any(-1)
        shows = need != 0
        cols = np.bitwise_or.reduce(need, axis=-1)
        tiles = np.stack([np.log2(np.maximum(cols & -cols, 1)), shows.argmax(-1),  # lowest set bit, first row
                          np.frexp(cols.astype(np.float64))[1], nr - shows[..., ::-1].argmax(-1)], -1)
        edges = np.minimum(np.ceil(tiles * g), self.res)  # tile k's pixels: ceil(k g) .. ceil((k + 1) g) - 1
        inside = np.concatenate([np.maximum(np.floor(box[..., :2]), 0), np.minimum(np.floor(box[..., 2:]) + 1,
                                                                                  self.res)], -1)
        return shows.any(-1), np.concatenate([np.maximum(edges[..., :2], inside[..., :2]),
                                              np.minimum(edges[..., 2:], inside[..., 2:])], -1).astype(np.int64)

    def paint(self, obj: Objects, geo: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Paint frames in object order, as labels: returns (T, res, res) uint8 labels (uint16 past 255 objects
        in a clip), the object id of each label (K + 1,), -1 for the background (label 0), and for textured
        levels the pixel box [x0, y0, x1, y1) where each painted object can show, (T, N, 4)."""
        import cv2
        nt, res = len(geo["drawn"]), self.res
        sel = np.flatnonzero(geo["drawn"].any(0))  # objects on the canvas in some frame
        drawn, box, disc = geo["drawn"][:, sel], geo["box"][:, sel], geo["disc"][:, sel]
        step = 8  # frames per culling pass: keeps its temporaries in cache
        parts = [self._visible(drawn[i:i + step], box[i:i + step], disc[i:i + step], roi=self.level.textured)
                 for i in range(0, nt, step)]
        if self.level.textured:
            shows, rois = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        else:
            shows = np.concatenate(parts)
        tt, mm = np.nonzero(shows)
        ids = sel[mm]
        boxes = None
        if self.level.textured:  # (T, N, 4): where each painted object can show
            boxes = np.zeros((nt, len(obj.radius), 4), np.int64)
            boxes[tt, ids] = rois[tt, mm]
        shown = np.unique(ids)
        labels = (np.searchsorted(shown, ids) + 1).tolist()
        canvas = np.zeros((nt, res, res), np.uint8 if len(shown) < 256 else np.uint16)
        kind = obj.kind[ids].tolist()
        verts = geo["verts"][tt, ids] if "verts" in geo else None
        affine = geo["circle_mode"] == "affine"
        centre, axes = geo["centre"][tt, ids], geo["axes"][tt, ids]
        if affine:
            centres, axes = centre.tolist(), (2 * axes).tolist()
        else:
            centres, axes = centre.astype(np.int64).tolist(), axes.astype(np.int64).tolist()
        angles = geo["angle"][tt, ids].tolist()
        fast = geo["circle_mode"] == "none" and self.p.circle_raster == "circle"
        frames = list(canvas)
        for k, (t, shape, label) in enumerate(zip(tt.tolist(), kind, labels, strict=True)):
            if shape != CIRCLE:
                cv2.fillPoly(frames[t], verts[k:k + 1, :3] if shape == 4 else verts[k:k + 1], label)
            elif fast:
                cv2.circle(frames[t], centres[k], axes[k][0], label, -1)
            elif affine:
                cv2.ellipse(frames[t], (centres[k], axes[k], angles[k]), label, -1)
            else:
                cv2.ellipse(frames[t], centres[k], axes[k], angles[k], 0, 360, label, -1)
        return canvas, np.concatenate([[-1], shown]), boxes

    def render(self, obj: Objects, t: np.ndarray) -> np.ndarray:
        """Frames t (T,) of the video `obj`: uint8 (T, res, res, 3)."""
        import cv2
        static = not self.level.moving
        tr = t[:1] if static else t  # a static video is one frame repeated
        geo = self.geometry(obj, tr)
        labels, ids, boxes = self.paint(obj, geo)
        if self.level.textured:
            frames = self._texture(obj, geo, labels, ids, boxes)
        else:  # label -> colour through one packed RGB table for the clip (label 0: black)
            table = np.zeros(max(256, len(ids)), "<u4")
            table[1:len(ids)] = (obj.colour[ids[1:]].astype("<u4") << np.array([0, 8, 16], "<u4")).sum(1)
            rgba = np.take(table, labels).view(np.uint8).reshape(-1, self.res, 4)
            frames = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB).reshape(*labels.shape, 3)
        return np.repeat(frames, len(t), axis=0) if static else frames

    # -- textures --------------------------------------------------------------------------------------------
    def _texture_image(self, obj: Objects, i: int) -> np.ndarray:
        """Object i's texture at its native size; an unreadable file is replaced by another draw and counted."""
        index = int(obj.texture[i])
        for attempt in range(16):
            try:
                return self.textures.texture(index)
            except ImageError as e:
                self.skipped.add(str(e))
                index = int(np.random.default_rng([self.seed, index, RETRY, attempt]).integers(len(self.textures)))
        raise BenchError(f"16 textures in a row could not be read from {self.textures.info()['textures']}")

    def _texture(self, obj: Objects, geo: dict, labels: np.ndarray, ids: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """Colour label frames: every object on top somewhere shows its texture, warped with the shape (bilinear,
        cv2.warpAffine as in the code), where it is on top; the background stays black. The code resizes each
        texture to 2 res x 2 res (nearest) first: here that scaling is folded into the warp (same geometry)."""
        import cv2
        present = [np.flatnonzero(np.bincount(frame.ravel(), minlength=len(ids))[1:]) + 1 for frame in labels]
        tt = np.repeat(np.arange(len(labels)), [len(p) for p in present])
        label = np.concatenate(present)
        obj_id = ids[label]
        images = {i: self._texture_image(obj, i) for i in np.unique(obj_id).tolist()}
        size = np.array([images[i].shape[1::-1] for i in obj_id.tolist()], np.float64).reshape(-1, 2)
        fwd = np.concatenate([geo["tm"][tt, obj_id] * (2.0 * self.res / size)[:, None, :],
                              geo["tb"][tt, obj_id][..., None]], -1)  # texture pixel -> frame pixel, (K, 2, 3)
        frames = np.zeros((*labels.shape, 3), np.uint8)
        for t, lab, i, (x0, y0, x1, y1), f in zip(tt.tolist(), label.tolist(), obj_id.tolist(),
                                                 rois[tt, obj_id].tolist(), fwd, strict=True):
            mask = cv2.compare(labels[t, y0:y1, x0:x1], lab, cv2.CMP_EQ)
            bx, by, w, h = cv2.boundingRect(mask)  # only where it shows
            x0, y0 = x0 + bx, y0 + by
            f[:, 2] -= (x0, y0)
            warped = cv2.warpAffine(images[i], f, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            cv2.copyTo(warped, mask[by:by + h, bx:bx + w], frames[t, y0:y0 + h, x0:x0 + w])
        return frames

    # -- the source interface ----------------------------------------------------------------------------------
    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        if frames < 1 or stride < 1:
            raise BenchError(f"a synthetic clip needs frames >= 1 and stride >= 1, got {frames} x {stride}")
        video = index % self.p.videos if self.p.videos else index
        obj = self.objects(video)
        t = clip_frames(obj.length, frames, stride, np.random.default_rng([self.seed, index, WINDOW]))
        return self.render(obj, t)

    def info(self) -> dict:
        out = {"paper": "Yu et al. 2024", "level": self.level.number, "level_name": self.level.title,
               "videos": self.p.videos or "a new video per clip",
               "renderer": f"cpu: OpenCV painter's algorithm, untransformed circles by cv2.{self.p.circle_raster}"}
        if self.textures is not None:
            out.update(self.textures.info())
        return out


# ----------------------------------------------------------------------------------------------------------------
# registration, in the paper's order

_AFFINE = ("Paper vs code (code default): pivot=code, (r//2, r//2) in the shape's frame | centre; circle_affine="
           "{} (ellipse: the on-the-fly code's ellipses, none: the offline code, affine: the paper)")
_ACCEL = "acceleration_max=0.03 (code; paper text 0.6, paper Table 8 0.06)"
_TEXTURED = (f"{_AFFINE.format('none')}; {_ACCEL}; crop=top-left (code) | random (paper). 9,537 fixed videos "
             "(videos=9537, the paper's offline set); each clip a new random window.")
LEVELS = [
    (Level(1, "static-circles", "Static circles", moving=False, shapes=False, affine=False, accelerating=False),
     CirclesParams, (), "500 dead-leaves circles on black (power-law radii, uniform colours, later ones on top), "
     "one frame repeated. 256 px, videos of 100-200 frames."),
    (Level(2, "moving-circles", "Moving circles", shapes=False, affine=False, accelerating=False), MovingParams, (),
     "each circle moves straight on at U(1.2, 3.0) px/frame in a uniform direction."),
    (Level(3, "moving-shapes", "Moving shapes", affine=False, accelerating=False), ShapesParams, (),
     "six kinds, uniformly: circle, square, oriented square, rectangle, triangle, quadrilateral."),
    (Level(4, "transforming-shapes", "Moving and transforming shapes", accelerating=False), TransformingParams,
     ("moving-transforming-shapes",), "per shape: rotation U(-pi/100, pi/100) rad/frame, x/y scale and shear "
     f"speeds U(-0.005, 0.005). {_AFFINE.format('ellipse')}."),
    (Level(5, "accel-shapes", "Accelerating transforming shapes"), AcceleratingParams,
     ("accel-transforming-shapes",), "per shape: acceleration U(-0.03, 0.03), centre c + (v0 + a t) t at the "
     f"absolute frame t. {_AFFINE.format('ellipse')}; {_ACCEL}."),
    (Level(6, "accel-textures", "Accelerating transforming textures", textured=True), TexturedParams,
     ("accel-transforming-textures",), "each shape shows a texture warped with it: built-in statistical textures "
     "(power-law spectrum and colour model after Baradad et al. 2021; a bank of 1,024) or a folder "
     f"(textures=stat-spectrum_color_wmm/train). {_TEXTURED}"),
    (Level(7, "accel-stylegan", "Accelerating transforming StyleGAN crops", textured=True), StyleGANParams,
     ("accel-transforming-stylegan",), "shapes show StyleGAN-Oriented crops: give textures=FOLDER of the released "
     "set; without it a built-in STAND-IN (procedural oriented textures, not StyleGAN) is used and every record "
     f"says so. {_TEXTURED}"),
    (Level(8, "accel-image-crops", "Accelerating transforming image crops", textured=True), ImageCropParams,
     ("image-crops", "accel-transforming-image-crops"), "shapes show crops of still images from an image pool: "
     "the natural images bundled in scikit-image/scikit-learn, or any folder (textures=/data/imagenet/train, the "
     f"paper's). {_TEXTURED}"),
]


for _level, _params, _aliases, _text in LEVELS:
    CLIP_SOURCES.add(ClipSourceEntry(
        _level.name, f"Yu et al. 2024 level {_level.number}, {_level.title[0].lower()}{_level.title[1:]}: {_text}",
        _params, _aliases, cls=SyntheticVideos, factory=partial(SyntheticVideos, level=_level), level=_level.number),
        __name__)
