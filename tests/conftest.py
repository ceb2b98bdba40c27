"""Shared fixtures, session-wide settings and the fast lane.

- Settings: W&B offline; torch threads shared out between pytest-xdist workers.
- Fixtures: files the tests only read are made once per session here (a tiny exported
  checkpoint, random LPIPS / FID weights); the plain helpers behind them live in helpers.py.
- The fast lane: SLOW names the tests that take seconds each (a training, a CLI in a fresh
  Python, DDP, the browser, torch.compile); they get the ``slow`` marker, so that
  ``make test-fast`` (``-m "not slow"``) leaves them out. ``make test`` runs everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import (
    make_tiny_checkpoint,
    random_alexnet_file,
    random_inception_file,
)

# file -> the tests (function names, every parametrisation) that are marked slow there
SLOW: dict[str, set[str]] = {
    "test_attention.py": {
        "test_paper_generator_weights_differ_per_photo_and_the_mlp_learns",
        "test_the_literal_squeeze_after_instance_norm_is_inert",
    },
    "test_bench.py": {
        "test_cli_prints_table_writes_json_and_leaves_no_run_folder",
        "test_baselines_run_every_model_part",
    },
    "test_buckets.py": {
        "test_evaluate_buckets_with_fid_reports_it_per_bucket_with_its_image_count",
    },
    "test_cli.py": {
        "test_cli_run_writes_config_checkpoint_metrics_and_grids",
        "test_multirun_writes_one_folder_per_job",
        "test_optuna_sweep_runs_two_trials",
        "test_ddp_on_two_cpu_processes_in_a_multirun_keeps_each_job_in_its_folder",
        "test_missing_dataset_root_is_one_line_exit_2",
        "test_unreadable_resume_checkpoint_is_one_line_exit_2",
        "test_bad_speed_option_is_one_line_exit_2",
        "test_missing_imagenet_vgg_weights_fail_at_start_in_one_line",
    },
    "test_compile.py": {
        "test_generator_compiles_fullgraph_without_recompiling_for_new_holes",
        "test_compiled_training_step_backward_without_recompiling",
    },
    "test_config.py": {
        "test_model_group_holds_the_trainable_models_only",
        "test_cli_prints_composed_experiment_config",
        "test_cli_help_lists_groups",
        "test_configs_are_found_after_a_non_editable_install",
    },
    "test_console.py": {
        "test_tiny_run_console_has_no_known_noise",
        "test_non_tty_run_prints_plain_progress_lines_also_in_train_log",
        "test_model_summary_is_short_without_flops",
    },
    "test_data.py": {"test_trainer_fit_uses_trainer_epoch"},
    "test_demo_browser.py": {
        "test_paint_undo_run_compare_and_download",
        "test_bad_input_is_shown_on_the_page",
    },
    "test_evaluate.py": {
        "test_cli_evaluate_and_report",
        "test_lpips_is_computed_from_the_weights_in_the_hub_cache",
    },
    "test_experiments.py": {"test_every_table1_experiment_is_a_table1_experiment"},
    "test_export.py": {  # the tests of the ONNX / TorchScript exports (made once, ~20 s)
        "test_exports_equal_the_generator_on_unseen_masks_batches_and_sizes",
        "test_files_are_told_apart_by_content_and_foreign_ones_are_one_line",
        "test_missing_onnxruntime_is_one_line_naming_it",
        "test_evaluate_and_predict_give_the_checkpoints_numbers_and_pixels",
        "test_import_inpaintgan_is_light",
        "test_cli_exports_torchscript_and_bad_requests_are_refused",
    },
    "test_gpu_check.py": {
        "test_runner_writes_the_summary_and_a_skip_passes",
        "test_a_spent_time_budget_fails_the_steps_it_leaves_out",
    },
    "test_help.py": {
        "test_help_is_a_short_page_naming_the_main_options",
        "test_train_help_lists_only_trainable_models",
        "test_predict_help_leaves_out_training_groups",
    },
    "test_perceptual.py": {"test_fid_of_a_set_with_itself_is_about_zero_and_matches_torchmetrics"},
    "test_precision.py": {
        "test_vgg_convolutions_follow_autocast_and_the_gram_stays_float32",
        "test_lightning_16_mixed_backs_off_on_overflow_and_trains",
    },
    "test_predict.py": {"test_cli_exit_code_1_when_a_file_fails_and_no_litter"},
    "test_reliability.py": {
        "test_predict_cli_output_equal_to_input_is_one_line_and_exit_2",
        "test_interrupt_saves_last_ckpt_and_says_where",
        "test_an_unwritable_run_folder_is_one_line_not_a_traceback",
    },
    "test_resume.py": {
        "test_a_finished_run_extended_continues_with_the_next_batch",
        "test_sigterm_inside_an_epoch_saves_exits_143_and_resumes_exactly",
        "test_kill_9_after_an_epoch_end_save_resumes_from_it_exactly",
        "test_stopping_between_validations_validates_the_final_weights",
        "test_a_checkpoint_saved_before_its_epoch_end_resumes_with_that_epoch_end",
        "test_ddp_cpu_sigterm_inside_an_epoch_resumes_exactly",
        "test_ddp_cpu_kill_9_of_every_rank_resumes_from_the_epoch_end_save_exactly",
        "test_ddp_cpu_run_stopped_at_an_epoch_end_extends_exactly",
        "test_a_resume_of_a_wandb_run_in_use_logs_to_a_new_wandb_run",
    },
    "test_robustness.py": {"test_the_matrix_sweep_runs_end_to_end_at_a_tiny_size"},
    "test_safety.py": {
        "test_predict_cli_with_a_hostile_checkpoint_leaves_the_file_and_exits_in_one_line",
        "test_export_cli_refuses_an_existing_out_in_one_line",
        "test_evaluate_cli_run_twice_into_one_out_keeps_the_first",
        "test_evaluate_cli_bad_split_is_one_line_exit_2",
    },
    "test_streaming.py": {
        "test_prepare_command_and_a_light_import",
        "test_training_resume_from_a_litdata_run_continues_like_an_uninterrupted_run",
        "test_ddp_on_two_cpu_processes_streams_and_finishes",
    },
    "test_train.py": {
        "test_each_variant_fits_validates_and_leaves_its_files",
        "test_same_seed_gives_same_first_losses",
        "test_resume_continues_exactly_like_an_uninterrupted_run",
        "test_last_checkpoint_is_the_latest_state_even_when_the_best_is_older",
        "test_max_batches_counts_batches_not_optimizer_steps",
        "test_non_finite_losses_are_skipped_then_stop_the_run_keeping_good_weights",
        "test_wandb_offline_run_writes_its_files_and_id_is_checkpointed",
        "test_export_keeps_only_the_generator_and_reproduces_its_output",
        "test_bf16_mixed_precision_trains_with_finite_losses",
        "test_channels_last_training_keeps_nhwc_weights",
        "test_lr_schedule_and_grad_clip_come_from_config",
        "test_tensorboard_logger_writes_events_and_images",
        "test_compile_is_in_place_and_keeps_checkpoint_keys",
    },
    "test_wandb.py": {
        "test_logged_grids_are_the_png_grids_on_disk_not_black",
        "test_train_grids_show_training_photos_not_the_val_images",
        "test_grid_caption_names_the_columns_and_the_step",
        "test_summary_holds_the_best_val_psnr_and_its_step",
        "test_run_config_holds_the_resolved_config_commit_and_tags",
        "test_dashboard_sections_hold_losses_discriminator_lr_and_val_metrics",
        "test_tensorboard_images_are_the_png_grids_on_disk",
        "test_checkpoint_artifacts_get_best_and_last_aliases",
        "test_log_model_is_off_for_offline_runs",
        "test_multirun_jobs_are_one_wandb_group_named_by_their_overrides",
        "test_evaluate_logs_metrics_and_a_per_image_table_with_thumbnails",
        "test_wandb_sync_recognises_the_offline_run",
    },
}


def _threads() -> int:
    """Torch threads per test process: the cores shared out between the xdist workers."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark SLOW's tests (and notebooks run by nbmake) ``slow``; then put the files with slow
    tests first, the slowest first, so that parallel workers do not end on a long file."""
    checked: set[str] = set()
    slow_in_file: dict[str, int] = {}
    for item in items:
        name = item.path.name
        if item.path.suffix == ".ipynb":
            slow = True
        else:
            names = SLOW.get(name, set())
            module = getattr(item, "module", None)
            if names and module is not None and name not in checked:
                checked.add(name)
                gone = sorted(n for n in names if not hasattr(module, n))
                if gone:
                    raise pytest.UsageError(f"conftest.SLOW names tests {name} lacks: {gone}")
            slow = getattr(item, "originalname", item.name) in names
        if slow:
            item.add_marker(pytest.mark.slow)
        slow_in_file[name] = slow_in_file.get(name, 0) + slow
    items.sort(key=lambda item: -slow_in_file[item.path.name])  # stable: file order kept


@pytest.fixture(autouse=True, scope="session")
def _quiet_and_fast() -> None:
    threads = _threads()
    torch.set_num_threads(threads)
    if "PYTEST_XDIST_WORKER" in os.environ:  # the CLIs a worker starts share its cores too
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny exported generator (helpers.make_tiny_checkpoint), shared: do not modify it."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def random_alexnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AlexNet weights file with RANDOM weights (LPIPS plumbing only), shared."""
    return random_alexnet_file(tmp_path_factory.mktemp("weights") / "random-alexnet.pth")


@pytest.fixture(scope="session")
def random_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Inception v3 weights file with RANDOM weights (FID plumbing only), shared."""
    return random_inception_file(tmp_path_factory.mktemp("weights") / "random-inception.pth")


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TORCH_HOME: no cached LPIPS / FID weights are found (nor downloaded)."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
