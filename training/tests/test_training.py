"""The trainer's own checks (`python -m unittest discover -s training/tests`, run by
scripts/test.sh): the pack's recipe, the rate, the BD-rate, and that a run cut into chunks computes exactly
what an uninterrupted one does."""

from __future__ import annotations

import json
import math
import tempfile
import unittest
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from sacodec_train import io, nets, optim, pack, rate, train
from sacodec_train.recipe import bd_rate


def photos(folder: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    for i in range(n):
        h, w = 300 + 20 * (i % 3), 520
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([(x * (i + 1)) % 256, (y * 2 + i * 9) % 256, ((x ^ y) + i) % 256], -1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        sub = folder / ("b" if i % 2 else "a")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(sub / f"{i:02}.png")


def make_pack(d: Path) -> Path:
    """Twelve photos packed: 24 tiles, 2 of them held out."""
    photos(d / "photos", 12)
    tensors, meta = pack.build([d / "photos"], pack.Recipe())
    io.save(d / "pack.safetensors", tensors, meta)
    return d / "pack.safetensors"


class Pack(unittest.TestCase):
    def test_recipe_holdout_and_budget(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            p = pack.load(make_pack(d))
            self.assertEqual(p.train.shape, (22, 256, 256, 3))
            self.assertEqual(p.valid.shape, (2, 256, 256, 3))
            tensors, meta = pack.build([d / "photos"], pack.Recipe())
            # The same photos give the same bytes: the pack's hash names its content.
            io.save(d / "again.safetensors", tensors, meta)
            self.assertEqual(io.sha256(d / "pack.safetensors"), io.sha256(d / "again.safetensors"))
            files = pack.image_files([d / "photos"])
            self.assertEqual(len(files), 12)
            # Two 256² tiles per 520-wide photo; files 9 (every 10th) held out.
            self.assertEqual(len(tensors["valid"]), 24)
            held = sorted({int(s) for s, v in zip(tensors["source"], tensors["valid"]) if v})
            self.assertEqual(held, [9])
            # A small budget keeps the held-out tiles and drops training tiles.
            small, _ = pack.build([d / "photos"], pack.Recipe(budget_mib=len(tensors["data"]) / 2 / 2**20))
            self.assertEqual(int(small["valid"].sum()), 2)
            self.assertLess(len(small["valid"]), 24)
            (d / "kodak").mkdir()
            Image.new("RGB", (300, 300)).save(d / "kodak" / "k.png")
            with self.assertRaises(SystemExit):
                pack.image_files([d])


class Rate(unittest.TestCase):
    def test_bits_match_the_discretized_gaussian(self):
        def exact(y, m, s):
            xs = np.linspace(y - 0.5, y + 0.5, 20001)
            pdf = np.exp(-0.5 * ((xs - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
            return -math.log2(np.trapezoid(pdf, xs))

        for y, m, s in [(0.0, 0.0, 1.0), (1.3, 0.2, 0.7), (-4.0, 0.0, 2.5), (0.4, 0.0, 0.11), (9.0, 0.0, 1.0)]:
            got = float(rate.gaussian_bits(jnp.float32(y), jnp.float32(m), jnp.float32(s)))
            self.assertAlmostEqual(got, exact(y, m, s), delta=2e-3 * max(1.0, exact(y, m, s)))
        # Far in the tail: finite, and growing.
        far = [float(rate.gaussian_bits(jnp.float32(v), 0.0, 1.0)) for v in (20.0, 30.0)]
        self.assertTrue(all(math.isfinite(f) for f in far) and far[1] > far[0] > 100)

    def test_training_clamps_latents_as_the_coder_does(self):
        # A level whose gains put every latent far past ±127: the noise is clamped away, so the
        # training loss decodes exactly what the coder's rounding and clamp give.
        p = {**nets.init(jax.random.key(0), nets.vae_shapes()), **rate.init_rate((0.01, 0.1))}
        p["rate.log_gain"] = p["rate.log_gain"].at[1].set(25.0)
        x = jax.random.uniform(jax.random.key(1), (4, nets.PATCH, nets.PATCH, 3))
        q = jnp.ones((4,), jnp.int32)
        got = rate.rd_terms(p, x, q, jax.random.key(2))["mse"]
        coded = nets.decode(p, rate.quantize(p, nets.encode_mu(p, x), q))
        np.testing.assert_allclose(got, ((coded - x) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
        y = jnp.linspace(-400.0, 400.0, 101)
        self.assertEqual(float(jnp.abs(rate.noisy_latents(y, jax.random.key(3))).max()), rate.MAX_LATENT)


class Context(unittest.TestCase):
    def test_the_context_rate_starts_at_the_priors(self):
        p = rate.init_rate((0.01, 0.1))
        p["rate.mean"] = 0.5 * jax.random.normal(jax.random.key(0), p["rate.mean"].shape)
        p["rate.log_scale"] = jax.random.normal(jax.random.key(1), p["rate.log_scale"].shape)
        y = jnp.round(3 * jax.random.normal(jax.random.key(2), (2 * 4, 4, 4, nets.LATENT_CHANNELS)))
        q = jnp.array([0, 1])
        np.testing.assert_allclose(
            rate.coded_bits({**p, **rate.init_context(p)}, y, q, 2, "context"),
            rate.coded_bits(p, y, q, 2, "factorized"),
            rtol=1e-5,
        )

    def test_a_latents_context_is_what_the_coder_decodes_before_it(self):
        rows, cols, c = 2, 3, nets.LATENT_CHANNELS
        p = rate.init_rate((0.01, 0.1))
        keys = iter(jax.random.split(jax.random.key(3), 8))
        ctx = {k: 0.3 * jax.random.normal(next(keys), v.shape) for k, v in rate.init_context(p).items()}
        y = jnp.round(3 * jax.random.normal(next(keys), (rows * cols, 4, 4, c)))
        q = jnp.array([1])
        _, mean, _ = rate.context_prior(ctx, y, q, rows, cols)
        # The coder's order: patches in raster order, each channel by channel, each channel's
        # cells in raster order.
        i, j, ch = np.meshgrid(np.arange(rows * 4), np.arange(cols * 4), np.arange(c), indexing="ij")
        order = ((i // 4) * cols + j // 4) * 1024 + ch * 16 + (i % 4) * 4 + j % 4
        rng = np.random.default_rng(4)
        for _ in range(6):
            patch, ci, cj, k = rng.integers(rows * cols), *rng.integers(4, size=2), rng.integers(c - 1)
            moved, _ = rate.context_prior(ctx, y.at[patch, ci, cj, k].add(5.0), q, rows, cols)[1:]
            changed = np.asarray(moved != mean)[0]
            at = order[(patch // cols) * 4 + ci, (patch % cols) * 4 + cj, k]
            self.assertFalse(changed[order <= at].any())
            self.assertTrue(changed[order > at].any())


class BdRate(unittest.TestCase):
    def test_the_anchor_bd_rates_the_report_pins(self):
        # `src/cli/report.rs` pins these (exact rational arithmetic); tests/parity.rs ties the
        # codec's BD-rate to this one on other curves.
        curves = json.loads((Path(__file__).parents[2] / "results/anchors.json").read_text())["curves"]
        find = {c["name"].split()[0]: [tuple(p) for p in c["points"]] for c in curves}
        pairs = [("JPEG", "WebP", -38.669739535), ("JPEG", "bmshj2018-factorized", -45.758088913), ("WebP", "bmshj2018-factorized", -9.151014574)]
        for ref, test, want in pairs:
            self.assertAlmostEqual(bd_rate(find[ref], find[test]), want, places=6)


class Layers(unittest.TestCase):
    def test_strided_layers_and_their_gradients_match_plain_xla(self):
        """`conv_down` and `conv_t_up` compute, and differentiate, what XLA's own strided and
        transposed convolutions do (burn's definitions), though their gradients are written
        out by hand for speed."""
        key = jax.random.split(jax.random.key(1), 4)
        x = jax.random.normal(key[0], (3, 8, 8, 5))
        w = jax.random.normal(key[1], (6, 5, 4, 4))  # Conv2d [out, in, 4, 4]
        z = jax.random.normal(key[2], (3, 4, 4, 6))
        wt = jax.random.normal(key[3], (6, 5, 4, 4))  # ConvTranspose2d [in, out, 4, 4]
        dims = ("NHWC", "OIHW", "NHWC")

        def down(w, x):
            return jax.lax.conv_general_dilated(x, w, (2, 2), [(1, 1), (1, 1)], dimension_numbers=dims)

        def up(z, wt):
            # A transposed convolution: the input dilated by zeros, the kernel flipped, its
            # channel axes swapped, padded by k − 1 − p = 2.
            k = jnp.flip(wt, (2, 3)).transpose(1, 0, 2, 3)
            return jax.lax.conv_general_dilated(z, k, (1, 1), [(2, 2), (2, 2)], lhs_dilation=(2, 2), dimension_numbers=dims)

        zero = {"bias": jnp.zeros(6), "t.bias": jnp.zeros(5)}
        ours_down = lambda w, x: nets.conv_down({"d.weight": w, "d.bias": zero["bias"]}, "d", x)
        ours_up = lambda z, wt: nets.conv_t_up({"t.weight": wt, "t.bias": zero["t.bias"]}, "t", z)
        with jax.default_matmul_precision("highest"):
            for ours, plain, args in ((ours_down, down, (w, x)), (ours_up, up, (z, wt))):
                np.testing.assert_allclose(ours(*args), plain(*args), rtol=1e-5, atol=1e-5)
                cot = jnp.cos(plain(*args))  # any output gradient
                loss = lambda f: lambda a, b: (f(a, b) * cot).sum()
                for got, want in zip(jax.grad(loss(ours), (0, 1))(*args), jax.grad(loss(plain), (0, 1))(*args)):
                    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


class Resume(unittest.TestCase):
    def test_a_run_in_chunks_equals_an_uninterrupted_one(self):
        for kind in optim.OPTIMIZERS:
            with self.subTest(kind), tempfile.TemporaryDirectory() as d:
                d = Path(d)
                common = ["--plan", "smoke", "--pack", str(make_pack(d)), "--stages", "vae", "--set", f"vae.optimizer={kind}"]
                train.main(["--run", str(d / "a"), *common])
                train.main(["--run", str(d / "b"), *common, "--minutes", "0"])  # stops after one step
                b = train.Checkpoint.load(d / "b", "vae")
                self.assertEqual(b.step, 1)
                self.assertEqual(sorted(b.opt), sorted(optim.init(b.params, kind)))
                train.main(["--run", str(d / "b"), "--pack", str(d / "pack.safetensors"), "--stages", "vae"])
                a = io.load(train.Checkpoint.path(d / "a", "vae"))
                b = io.load(train.Checkpoint.path(d / "b", "vae"))
                self.assertEqual(sorted(a), sorted(b))
                for name in a:
                    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
                self.assertEqual(io.metadata(train.Checkpoint.path(d / "b", "vae"))["step"], "4")

    def test_an_unfinished_run_exports_and_forks_as_far_as_it_got(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            common = ["--plan", "smoke", "--pack", str(make_pack(d)), "--stages", "vae"]
            train.main(["--run", str(d / "a"), *common, "--minutes", "0"])  # stops after one step
            _, meta = train.export(d / "a")
            record = json.loads(meta["record"])
            self.assertEqual(record["stages"]["vae"]["steps"], 1)
            self.assertIn("stage vae at step 1 of 4", record["notes"])
            plan = train.fork(d / "a", d / "b", "smoke", ["enhancer.steps=3"])
            self.assertEqual([(c.stage, c.steps) for c in plan], [("vae", 1), ("subclass", 2), ("simclr", 2), ("enhancer", 3)])
            a = io.load(train.Checkpoint.path(d / "a", "vae"))
            b = io.load(train.Checkpoint.path(d / "b", "vae"))
            for name in a:
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
            with self.assertRaises(SystemExit):
                train.fork(d / "a", d / "b", "smoke", [])

    def test_a_warm_start_begins_at_the_other_runs_weights(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            common = ["--plan", "smoke", "--pack", str(make_pack(d)), "--stages", "vae"]
            train.main(["--run", str(d / "a"), *common])
            # A step at rate 0 of a warm start: its weights are the other run's, as they were.
            warm = ["--set", "vae.steps=1", "--set", "vae.lr=0", "--set", f"vae.warm_from={d / 'a'}"]
            train.main(["--run", str(d / "b"), *common, *warm])
            a, b = (train.Checkpoint.load(d / r, "vae") for r in "ab")
            self.assertEqual((a.step, b.step), (4, 1))
            for name in a.params:
                np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)
            with self.assertRaises(SystemExit):  # a run without that stage
                train.main(["--run", str(d / "c"), *common, "--set", f"vae.warm_from={d / 'none'}"])
            # From a file of networks (as `export` writes them): every weight of the stage's.
            io.save(d / "a.safetensors", {k: np.asarray(v) for k, v in a.params.items()})
            got = train.warm_start(d / "a.safetensors", "vae", b.params)
            for name in a.params:
                np.testing.assert_array_equal(a.params[name], got[name], err_msg=name)
            io.save(d / "part.safetensors", {k: np.asarray(v) for k, v in list(a.params.items())[1:]})
            with self.assertRaises(SystemExit):
                train.warm_start(d / "part.safetensors", "vae", b.params)

    def test_a_patchvae_goes_on_under_the_context_rate_from_its_factorized_prior(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            common = ["--plan", "smoke", "--pack", str(make_pack(d)), "--stages", "vae"]
            train.main(["--run", str(d / "a"), *common])
            ctx = ["--set", "vae.prior=context", "--set", "vae.crop=64", "--set", f"vae.warm_from={d / 'a'}"]
            train.main(["--run", str(d / "b"), *common, *ctx, "--set", "vae.steps=1", "--set", "vae.lr=0"])
            a, b = (train.Checkpoint.load(d / r, "vae") for r in "ab")
            for name in a.params:
                np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)
            np.testing.assert_array_equal(b.params["ctx.mean"], a.params["rate.mean"])
            self.assertEqual(float(jnp.abs(b.params["ctx.taps"]).max()), 0.0)
            # Trained: the context model moves context_lr times as fast as the networks.
            train.main(["--run", str(d / "c"), *common, *ctx, "--set", "vae.steps=2"])
            c = train.Checkpoint.load(d / "c", "vae")
            step = lambda k: float(jnp.abs(c.params[k] - b.params[k]).max())
            self.assertGreater(step("ctx.taps"), 10 * step("vae.encoder.conv1.weight"))
            log = [json.loads(line) for line in (d / "c" / "vae" / "log.jsonl").read_text().splitlines()]
            self.assertEqual(len(log[-1]["val"]["levels"]), 3)

    def test_a_warm_start_at_other_levels_extends_the_levels_along_ln_lambda(self):
        have = (0.01, 0.04, 0.16)
        gains = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 5.0]], np.float32)
        t = {"rate.log_gain": gains, "vae.w": np.ones((3, 2), np.float32)}
        self.assertIs(train.resample_levels(t, have, have)["vae.w"], t["vae.w"])
        np.testing.assert_allclose(train.resample_levels(t, have, have)["rate.log_gain"], gains)
        got = train.resample_levels(t, have, (0.005, 0.02, 0.16, 0.64))["rate.log_gain"]
        # Halfway in ln λ between the first two; beyond the ends along the last two's line.
        np.testing.assert_allclose(got, [[0.5, 1.0], [1.5, 3.0], [3.0, 5.0], [4.0, 6.0]], rtol=1e-6)
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            common = ["--plan", "smoke", "--pack", str(make_pack(d)), "--stages", "vae"]
            train.main(["--run", str(d / "a"), *common])
            lam = ",".join(str(x) for x in (0.001, *rate.LAMBDAS[:3]))
            warm = ["--set", "vae.steps=1", "--set", "vae.lr=0", "--set", f"vae.warm_from={d / 'a'}",
                    "--set", "all.levels=4", "--set", f"all.lambdas={lam}"]
            train.main(["--run", str(d / "b"), *common, *warm])
            a, b = (train.Checkpoint.load(d / r, "vae") for r in "ab")
            self.assertEqual(b.params["rate.log_gain"].shape[0], 4)
            np.testing.assert_allclose(b.params["rate.log_gain"][1:], a.params["rate.log_gain"], rtol=1e-6)


class Optimizers(unittest.TestCase):
    def test_cycles_repeat_a_cosine_that_ends_each_cycle_annealed(self):
        lr = lambda t: float(optim.learning_rate(1.0, jnp.int32(t), 10**9, 10, "cycles", 100))
        for t in (0, 5, 10, 50, 99):
            self.assertAlmostEqual(lr(t), lr(t + 100), places=6)
            self.assertAlmostEqual(lr(t), float(optim.learning_rate(1.0, jnp.int32(t), 100, 10, "cosine")), places=6)
        self.assertAlmostEqual(lr(10), 1.0, places=6)
        self.assertLess(lr(199), 0.011)

    def test_adafactor_keeps_a_small_state_and_its_first_step_is_the_gradients_sign(self):
        params = {"w": jnp.ones((8, 4, 3, 3)), "b": jnp.zeros(8)}
        state = optim.init(params, "adafactor")
        size = sum(v.size for part in state.values() for v in part.values())
        self.assertEqual(size, 8 + 36 + 8)  # rows and columns of w; b whole
        # Squared gradients of rank one, as the row and column means hold them exactly: the
        # first step (bias-corrected) moves each weight by the rate against its gradient's sign.
        a, c = jnp.arange(1.0, 9.0), jnp.linspace(-2.0, 2.0, 36) + 0.01
        grads = {"w": (a[:, None] * c[None, :]).reshape(8, 4, 3, 3), "b": jnp.arange(8.0) - 3.5}
        new, state, _ = optim.update(params, grads, state, jnp.int32(0), jnp.float32(0.1), clip=0)
        for k in params:
            np.testing.assert_allclose(new[k], params[k] - 0.1 * jnp.sign(grads[k]), rtol=1e-5, err_msg=k)
        self.assertEqual(state["row"]["w"].shape, (8,))


class CompareTest(unittest.TestCase):
    def test_a_bundle_needs_fewer_bits_where_its_curve_is_higher(self):
        from sacodec_train import compare

        def report(gain: float) -> dict:
            means = [{"bpp_context_simclr": b, "psnr_decoded": 24 + 4 * b, "psnr_enhanced": 24 + 4 * b + gain} for b in (0.2, 0.4, 0.7, 1.1, 1.5)]
            return {"means": means}

        old, new = compare.eval_curves(report(0.1)), compare.eval_curves(report(0.5))
        bd = compare.compare(old, new)
        self.assertAlmostEqual(bd["decoded"], 0.0, places=6)
        self.assertLess(bd["enhanced"], -5.0)
        self.assertAlmostEqual(compare.compare(new, old)["enhanced"] / 100 + 1, 1 / (bd["enhanced"] / 100 + 1), places=3)


if __name__ == "__main__":
    unittest.main()
