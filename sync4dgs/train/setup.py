"""Build a training :class:`Session` from a scene folder and a config: initial time maps (stage 1, a file,
the scene's known maps or identity), the initial model, optimisers, frames, samplers and the callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sync4dgs.data.points import load_points, random_points_in_frusta
from sync4dgs.data.scene import SceneSpec
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.model.folder import stage1_dir
from sync4dgs.model.initialize import model_from_points
from sync4dgs.render.types import RenderCameras
from sync4dgs.timemap import TimeMap, TimeMaps, load_time_maps
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.export import TRAJECTORIES_FILE
from sync4dgs.sync.timemodel import CameraTimeModel
from sync4dgs.train.background import BackgroundChoice, choose_background, sample_frame_indices
from sync4dgs.train.callbacks import Callback, TrainState
from sync4dgs.train.appearance import build_appearance_learner
from sync4dgs.train.camrefine import build_camera_refiner
from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.feature import CameraFeature
from sync4dgs.train.framebank import FrameBank
from sync4dgs.train.guard import NaNGuard
from sync4dgs.train.monitor import Monitor
from sync4dgs.train.moving_refill import MovingRefill
from sync4dgs.train.moving_seed import seed_moving_gaussians
from sync4dgs.train.objective import Objective
from sync4dgs.train.optim import LRSchedule
from sync4dgs.train.progressive import build_progressive_window
from sync4dgs.train.sampler import BackgroundSampler, ViewSampler
from sync4dgs.train.saving import Checkpointer, save_session_weights
from sync4dgs.train.session import Session
from sync4dgs.train.strategy import DynamicDensifier, StaticDensifier, StaticToDynamic
from sync4dgs.train.timectl import TimeController
from sync4dgs.utils.device import cpu_threads, resolve_device

log = logging.getLogger(__name__)

RANDOM_INIT_POINTS = 20_000
UNCERTAIN_CONFIDENCE = 0.5     # initial maps below this confidence learn without the evidence gate
VOID_SAMPLE_FRAMES = 4         # frames per training camera checked for an empty background


# ------------------------------------------------------------------------------------------ time maps
def scene_time_maps(scene: SceneSpec) -> TimeMaps:
    """Maps known from the scene description (cameras without one start at offset 0, rate 1)."""
    cams = {}
    for c in scene.cameras:
        ref = c.name == scene.reference_camera
        off, rate = (0.0, 1.0) if ref or c.time_map is None else c.time_map
        cams[c.name] = TimeMap(off, rate, 1.0 if (ref or c.time_map is not None) else 0.0,
                               "reference" if ref else ("aligned" if c.time_map is not None else "fixed"))
    return TimeMaps(scene.reference_camera, cams)


def load_trajectories(path: Path) -> dict[str, np.ndarray] | None:
    """Stage-1 trajectories npz contents (times_s, xyz, rgb), or None if the file is absent."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataFormatError(path, f"cannot read stage-1 trajectories: {e}") from e


def run_stage1(scene: SceneSpec, out_dir: Path, align: AlignConfig) -> tuple[TimeMaps | None, dict | None]:
    """Stage-1 alignment (sync4dgs.sync.align) with the experiment config's ``align`` section; writes its
    offsets.json + trajectories into ``out_dir``. Returns (time maps, trajectories or None)."""
    from sync4dgs.sync.align import align_scene, alignment_warnings, mask_choice_note, save_alignment  # noqa: PLC0415

    log.info("stage 1: aligning %d cameras", len(scene.cameras))
    result = align_scene(scene, align)
    save_alignment(result, out_dir)
    note = mask_choice_note(result.time_maps)
    if note:
        log.info("stage 1: %s", note)
    for msg in alignment_warnings(result.time_maps):
        log.warning("stage 1: %s", msg)
    traj = getattr(result, "trajectories", None)
    if traj is not None and not isinstance(traj, dict):
        traj = load_trajectories(out_dir / TRAJECTORIES_FILE)
    return result.time_maps, traj


def needs_stage1(cfg: ExperimentConfig, *, offsets_path=None, no_align: bool = False,
                 override: TimeMaps | None = None, resuming: bool = False) -> bool:
    """True when :func:`initial_time_maps` would run stage-1 alignment."""
    return override is None and not resuming and offsets_path is None and not no_align and cfg.time.align


def initial_time_maps(scene: SceneSpec, cfg: ExperimentConfig, model_path: Path, *, offsets_path=None,
                      no_align: bool = False, override: TimeMaps | None = None, resuming: bool = False,
                      stage1: tuple[TimeMaps | None, dict | None] | None = None
                      ) -> tuple[TimeMaps, dict | None, bool]:
    """(initial maps, stage-1 trajectories or None, fixed?) following the precedence
    override > resume > --offsets FILE > --no_align / time.align=false > stage 1.
    ``stage1``: an already computed run_stage1() result to use instead of running it here."""
    if override is not None:
        return override, None, True
    if resuming:
        return scene_time_maps(scene), None, False
    if offsets_path is not None:
        offsets_path = Path(offsets_path)
        return load_time_maps(offsets_path), load_trajectories(offsets_path.parent / TRAJECTORIES_FILE), False
    if no_align or not cfg.time.align:
        return scene_time_maps(scene), None, False
    maps, traj = stage1 if stage1 is not None else run_stage1(scene, stage1_dir(model_path), cfg.align)
    return (maps if maps is not None else scene_time_maps(scene)), traj, False


def capture_range_s(scene: SceneSpec, maps: TimeMaps) -> tuple[float, float]:
    """(min, max) global capture time (s) over all cameras under ``maps``."""
    lo, hi = np.inf, -np.inf
    for c in scene.cameras:
        m = maps.cameras.get(c.name, TimeMap())
        tau = c.tau_s()
        lo, hi = min(lo, m.offset_s + m.rate * tau[0]), max(hi, m.offset_s + m.rate * tau[-1])
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------------ geometry
def scene_extent(scene: SceneSpec) -> float:
    """1.1 x the largest distance of a training camera centre from their mean (3DGS), at least 1e-3."""
    centers = np.stack([c.center for c in scene.train_cameras])
    return max(1.1 * float(np.linalg.norm(centers - centers.mean(0), axis=1).max()), 1e-3)


def initial_points(scene: SceneSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene's points3d.ply, else random points in the training cameras' frusta (with a warning)."""
    if scene.points_path.is_file():
        pc = load_points(scene.points_path)
        return pc.xyz, pc.rgb
    far = min(scene.far, scene.near * 100)
    log.warning("%s not found: initialising with %d random points in the camera frusta (near %.3g, far %.3g)",
                scene.points_path, RANDOM_INIT_POINTS, scene.near, far)
    pc = random_points_in_frusta(scene.train_cameras, scene.near, far, RANDOM_INIT_POINTS,
                                 np.random.default_rng(seed))
    return pc.xyz, pc.rgb


def render_camera(cam, device: torch.device) -> RenderCameras:
    return RenderCameras(viewmats=torch.tensor(cam.viewmat, dtype=torch.float32, device=device)[None],
                         Ks=torch.tensor(cam.K, dtype=torch.float32, device=device)[None],
                         width=int(cam.width), height=int(cam.height))


# ------------------------------------------------------------------------------------------ session
def build_session(scene: SceneSpec, model_path: Path, cfg: ExperimentConfig, *, offsets_path=None,
                  no_align: bool = False, time_maps_override: TimeMaps | None = None, resuming: bool = False,
                  progress: bool = True, device: torch.device | None = None,
                  stage1: tuple[TimeMaps | None, dict | None] | None = None,
                  trajectories_path: str | Path | None = None) -> Session:
    """Everything a run needs, freshly initialised (a checkpoint, if any, is loaded by the caller).

    ``device`` overrides ``train.device`` (a torchrun rank's GPU); ``stage1`` is a stage-1 result computed
    elsewhere (rank 0 of a torchrun job), see :func:`initial_time_maps`.
    """
    device = resolve_device(cfg.train.device) if device is None else torch.device(device)
    model_path = Path(model_path)
    model_path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.train.seed)
    train_cams = scene.train_cameras
    if not train_cams:
        raise ConfigError(f"scene {scene.root} has no training cameras (all are test cameras)")
    maps, trajectories, fixed = initial_time_maps(scene, cfg, model_path, offsets_path=offsets_path,
                                                  no_align=no_align, override=time_maps_override,
                                                  resuming=resuming, stage1=stage1)
    if trajectories_path is not None and not resuming:   # explicit stage-1 trajectories win (e.g. oracle runs)
        trajectories = load_trajectories(Path(trajectories_path))
        if trajectories is None:
            raise DataFormatError(Path(trajectories_path), "trajectories file not found")
    time_model = CameraTimeModel(scene.camera_names, scene.reference_camera, init=maps,
                                 learn_rate=cfg.time.learn_rate).to(device)
    tau_first_last = np.array([[c.tau_s()[0], c.tau_s()[-1]] for c in scene.cameras])
    time_ctl = TimeController(time_model, cfg.time, tau_first_last,
                              trained=[time_model.index(c.name) for c in train_cams], fixed=fixed,
                              total_iterations=cfg.train.iterations,
                              ungated=[time_model.index(name) for name, m in maps.cameras.items()
                                       if name in scene.camera_names and m.confidence < UNCERTAIN_CONFIDENCE])

    xyz, rgb = initial_points(scene, cfg.train.seed)
    ref = scene.camera(scene.reference_camera)
    model = model_from_points(xyz, rgb, capture_range_s(scene, maps), cfg.model, trajectories,
                              fps_ref=ref.fps, device=device)
    frames = FrameBank(scene, train_cams, device, cfg.train.frames_on_device, cfg.train.frames_budget_gb,
                       progress=progress, host_cache=cfg.train.frames_host_cache)
    if not resuming:
        bank_pos = {c.name: i for i, c in enumerate(train_cams)}
        with cpu_threads(cfg.train.cpu_threads, device):
            seed_moving_gaussians(model, scene, maps, capture_range_s(scene, maps), cfg.moving, cfg.train.seed,
                                  progress, maps_fixed=fixed,
                                  read=lambda cam, i: frames.peek(bank_pos[cam.name], i))
    background = _choose_background(cfg, frames, train_cams)
    extent = cfg.train.scene_extent if cfg.train.scene_extent > 0 else scene_extent(scene)
    state = TrainState(model=model, optimizers={}, extent=extent)
    session = Session(
        cfg=cfg, scene=scene, model_path=model_path, device=device, state=state, time=time_ctl,
        frames=frames,
        sampler=ViewSampler([c.n_frames for c in train_cams], cfg.train.seed),
        background=BackgroundSampler(background.random, list(background.rgb), cfg.train.seed, device),
        background_choice=background,
        cameras=[render_camera(c, device) for c in train_cams],
        tau_s=[c.tau_s().tolist() for c in train_cams],
        time_index=[time_model.index(c.name) for c in train_cams],
        schedule=LRSchedule(cfg.optim, extent), objective=Objective(cfg.loss))
    session.build_optimizers()
    session.callbacks = [*optional_features(session), *default_callbacks(session, progress)]
    log.info("model: %d static + %d dynamic Gaussians, %d keyframes; extent %.3g; device %s",
             model.n_static, model.n_dynamic, model.num_keyframes, extent, device)
    return session


def _choose_background(cfg: ExperimentConfig, frames: FrameBank, train_cams: list) -> BackgroundChoice:
    """Random backgrounds, or the scene's empty background when a few frames of each camera show one."""
    t = cfg.train
    sample = (frames.peek(pos, i) for pos, cam in enumerate(train_cams)
              for i in sample_frame_indices(cam.n_frames, VOID_SAMPLE_FRAMES))
    choice = choose_background(t.random_background, t.background, t.detect_void, t.void_fraction, sample)
    log.info("background: %s", choice.reason)
    return choice


def _camera_refiner(session: Session) -> CameraFeature | None:
    """Camera refinement (camera.refine_pose / refine_focal)."""
    cfg, scene = session.cfg, session.scene
    if not cfg.camera.enabled:
        return None
    return build_camera_refiner(cfg.camera, [c.name for c in scene.train_cameras], scene.reference_camera,
                                session.cameras, session.state.extent, session.model_path, cfg.train.save_iterations,
                                cfg.time.warmup_iterations)


def _appearance(session: Session) -> CameraFeature | None:
    """Appearance compensation (appearance.enabled)."""
    cfg, scene = session.cfg, session.scene
    if not cfg.appearance.enabled:
        return None
    return build_appearance_learner(cfg.appearance, [c.name for c in scene.train_cameras], scene.reference_camera,
                                    session.device, session.model_path, cfg.train.save_iterations)


# The one registration point of per-camera learned features (sync4dgs/train/feature.py): builders
# ``session -> CameraFeature | None`` (None: off in this config), in the order the features run, after the time
# controller (``session.time``, which every session has). A new feature is one more builder here.
CAMERA_FEATURES: tuple[Callable[[Session], CameraFeature | None], ...] = (_camera_refiner, _appearance)


def optional_features(session: Session) -> list[Callback]:
    """The registered per-camera features that are on (:data:`CAMERA_FEATURES`), then the progressive time window
    (progressive.enabled)."""
    cfg, scene = session.cfg, session.scene
    out: list[Callback] = [f for f in (build(session) for build in CAMERA_FEATURES) if f is not None]
    if cfg.moving.enabled and cfg.moving.refill_at > 0:
        out.append(MovingRefill(session, max(1, round(cfg.moving.refill_at * cfg.train.iterations))))
    if cfg.progressive.enabled:
        out.append(build_progressive_window(cfg.progressive, session.sampler, session.time, session.time_index,
                                            session.tau_s, scene.camera(scene.reference_camera).fps,
                                            cfg.progressive.refresh_every or cfg.time.sync_every))
    return out


def default_callbacks(session: Session, progress: bool) -> list:
    """Strategies, logging, checkpoints and the NaN guard, in the order they run after each step."""
    cfg = session.cfg
    static = StaticDensifier(cfg.densify.static, session.state.extent)
    dynamic = DynamicDensifier(cfg.densify.dynamic, session.state.extent)
    convert = StaticToDynamic(cfg.densify.convert, static, dynamic)

    return [static, dynamic, convert,
            Monitor(cfg.log, session.model_path, session.time, cfg.train.iterations, progress),
            NaNGuard(cfg.guard, lambda: session.state_dict(with_rng=False), session.load_state_dict,
                     session.scale_lrs, session.watched_parameters),
            Checkpointer(cfg.train, session.model_path, lambda: session.state_dict(),
                         lambda it: save_session_weights(session, it))]
