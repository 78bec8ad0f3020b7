"""Study storage: journal file by default, any RDB URL when configured, no password shown."""

from __future__ import annotations

from pathlib import Path

from engine.study.storage import journal_path, open_study, storage_label


def test_default_is_a_journal_file_next_to_the_store(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config("")
    study = open_study(cfg, "s1")
    study.enqueue_trial({})
    assert journal_path(cfg, "s1").exists()
    assert journal_path(cfg, "s1").parent == Path(cfg.store.path).parent / "optuna"
    assert storage_label(cfg, "s1").startswith("journal:")
    # a second process (here: a second handle) joins the same study
    again = open_study(cfg, "s1", create=False)
    assert len(again.get_trials()) == 1


def test_rdb_url_is_accepted_and_joined(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg = make_config(f'[study]\nstorage = "{url}"\n')
    a = open_study(cfg, "shared")
    a.enqueue_trial({})
    b = open_study(cfg, "shared")  # load_if_exists: a second host joins
    assert len(b.get_trials()) == 1
    assert storage_label(cfg, "shared") == url


def test_label_hides_the_password(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config('[study]\nstorage = "postgresql+psycopg2://bob:s3cret@db:5432/st"\n')
    label = storage_label(cfg, "x")
    assert "s3cret" not in label and label == "postgresql+psycopg2://bob:***@db:5432/st"


def _first_suggestions(cfg, name: str) -> list[float]:  # type: ignore[no-untyped-def]
    study = open_study(cfg, name)
    out = []
    for _ in range(3):
        trial = study.ask()
        out.append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, 0.0)
    return out


def test_study_seed_does_what_its_line_says(make_config) -> None:  # type: ignore[no-untyped-def]
    """cappuccino.toml: `seed` is unset by default (a fresh random seed each study); set,
    the study's sampler repeats itself."""
    unset = make_config("")
    assert unset.study.seed is None
    assert _first_suggestions(unset, "a") != _first_suggestions(unset, "b")
    seeded = make_config("[study]\nseed = 42\n")
    assert _first_suggestions(seeded, "c") == _first_suggestions(seeded, "d")
