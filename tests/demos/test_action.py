"""`sparsevl demo --task classification` end to end on a handful of videos and steps: every stage
runs, the comparison table has the four variants with what each trains."""

from __future__ import annotations

from sparsevl.cli import main


def test_action_demo_runs_every_stage(tmp_path, capsys, one_torch_thread):
    out = tmp_path / "demo"
    args = ["demo", "--task", "classification", "--out", str(out), "--num-videos", "16",
            "--max_steps", "2", "--train_batch_size", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[15/15] comparison" in printed
    assert (out / "pretrained" / "vit_clip.pt").is_file()
    table = (out / "results.md").read_text().splitlines()
    rows = {line.split("  ")[0]: line for line in table[4:]}
    assert list(rows) == ["frozen ViT + mean over frames", "frozen ViT + ST-Adapter",
                          "frozen ViT + divided space-time attention", "full fine-tune, mean over frames"]
    # the demo ViT: width 128, 8 classes -> a head of 1,032; the full fine-tune trains all 821,512
    trainable = [int(line.split()[-5].replace(",", "")) for line in rows.values()]
    total = [int(line.split()[-4].replace(",", "")) for line in rows.values()]
    assert trainable[0] == 128 * 8 + 8 and trainable[3] == total[3] == total[0]
    assert trainable[0] < trainable[1] < total[1] and trainable[2] < total[2]
