"""Tests for course_lib.infogan and course_lib.infogan_eval (notebook 07): codes, the Q loss
by hand, step functions, the trainer (seeding, learning, input checks), evaluation, and
device consistency on `meta`."""

import itertools
import math

import pytest
import torch

from course_lib import digit_clusters as dc
from course_lib import infogan, infogan_eval
from course_lib.config import seeded
from course_lib.data import batches, load_images


def test_sample_codes_and_latent():
    g = torch.Generator().manual_seed(0)
    cat, cont = infogan.sample_codes(500, generator=g)
    assert cat.shape == (500,) and cont.shape == (500, 2)
    assert set(cat.tolist()) == set(range(10)) and cont.abs().max() <= 1
    lat = infogan.make_latent(torch.zeros(500, 62), cat, cont)
    assert lat.shape == (500, 74)
    assert torch.equal(lat[:, 62:72].argmax(1), cat) and torch.equal(lat[:, 72:], cont)
    assert torch.equal(lat[:, 62:72].sum(1), torch.ones(500))  # exactly one-hot


def test_check_codes_refuses_what_make_latent_would_misread():
    infogan.check_codes(torch.tensor([0, 9]), torch.zeros(2, 2))  # valid: no error
    for cat in (torch.tensor([10]), torch.tensor([-1])):
        with pytest.raises(ValueError, match=r"0\.\.9"):
            infogan.check_codes(cat)
    with pytest.raises(ValueError, match="integers"):
        infogan.check_codes(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(B, n_cont\)"):
        infogan.check_codes(torch.tensor([1, 2]), torch.zeros(3, 2))
    G, _ = _nets()
    with pytest.raises(ValueError, match=r"0\.\.9"):  # generate() is the user's entry point
        G.generate(torch.zeros(1, 8), torch.tensor([10]), torch.zeros(1, 2))


def test_info_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    cat = torch.tensor([0, 2])
    mu = torch.tensor([[0.5, -0.5], [0.0, 0.0]])
    cont = torch.tensor([[1.0, -1.0], [0.2, 0.4]])
    # -log softmax: row 0, class 0: log(e^2 + 2) - 2; row 1, class 2: log(1 + e + 1) - 0
    ce = ((math.log(math.e**2 + 2) - 2) + math.log(2 + math.e)) / 2
    gauss = (0.5 * (0.25 + 0.25) + 0.5 * (0.04 + 0.16)) / 2
    out = infogan.info_loss(logits, mu, cat, cont, cont_weight=0.1)
    assert float(out["cat"]) == pytest.approx(ce, rel=1e-6)
    assert float(out["cont"]) == pytest.approx(gauss, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(ce + 0.1 * gauss, rel=1e-6)
    assert float(out["mi_cat"]) == pytest.approx(math.log(3) - ce, rel=1e-6)


def test_perfect_q_reaches_entropy_bound():
    cat = torch.arange(10)
    out = infogan.info_loss(100 * torch.eye(10), torch.zeros(10, 2), cat, torch.zeros(10, 2))
    assert float(out["mi_cat"]) == pytest.approx(math.log(10), abs=1e-6)


def test_real_code_information_by_hand():
    sure = 50 * torch.eye(4)  # four digits, each certain of a different code
    out = infogan.real_code_information(sure)
    assert float(out["mi"]) == pytest.approx(math.log(4), abs=1e-6)
    assert float(out["conditional_entropy"]) == pytest.approx(0, abs=1e-6)
    # every digit certain of the same code: confident but not balanced, no information
    same = infogan.real_code_information(50 * torch.eye(4)[[0, 0, 0, 0]])
    assert float(same["mi"]) == pytest.approx(0, abs=1e-6)
    # uniform predictions: balanced but not confident, no information
    flat = infogan.real_code_information(torch.zeros(4, 4))
    assert float(flat["marginal_entropy"]) == pytest.approx(math.log(4), abs=1e-6)
    assert float(flat["mi"]) == pytest.approx(0, abs=1e-6)
    # two rows by hand: p1 = (1/2, 1/2), p2 = (1, 0) -> marginal (3/4, 1/4)
    logits = torch.tensor([[0.0, 0.0], [0.0, -1e4]])
    out = infogan.real_code_information(logits)
    h_marg = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(out["marginal_entropy"]) == pytest.approx(h_marg, rel=1e-6)
    assert float(out["conditional_entropy"]) == pytest.approx(math.log(2) / 2, rel=1e-6)
    assert float(out["mi"]) == pytest.approx(h_marg - math.log(2) / 2, rel=1e-6)


def _parts_and_reals(seed: int):
    """Latent parts (z, cat, cont) for 8 fakes from ``seed``, and 8 random 'real' images."""
    g = torch.Generator().manual_seed(seed)
    parts = (torch.rand(8, 8, generator=g), *infogan.sample_codes(8, generator=g))
    return parts, torch.rand(8, 1, 28, 28, generator=g) * 2 - 1


def _nets():
    with seeded(0):
        return infogan.build(latent_dim=8, hidden=16, channels=4)


def test_shapes_and_heads():
    G, D = _nets()
    # latent_dim is the size of z alone; G's input adds 10 one-hot categories and 2 codes.
    assert G.latent_dim == 8 and G.fc[0].in_features == 8 + 10 + 2
    x = G.generate(torch.zeros(3, 8), torch.tensor([0, 5, 9]), torch.zeros(3, 2))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    logit, cat_logits, cont_mean = D.forward_all(x)
    assert logit.shape == (3,) and cat_logits.shape == (3, 10) and cont_mean.shape == (3, 2)
    assert torch.allclose(D(x), logit)


def test_info_term_updates_q_and_g_but_d_step_leaves_g():
    G, D = _nets()
    tD = torch.optim.SGD(D.parameters(), lr=0.1)
    tG = torch.optim.SGD(G.parameters(), lr=0.1)
    parts, X = _parts_and_reals(1)
    G0 = [p.clone() for p in G.parameters()]
    Q0 = [p.clone() for p in D.q_head.parameters()]
    infogan.discriminator_step(X, parts, D, G, tD)
    assert all(torch.equal(a, b) for a, b in zip(G0, G.parameters()))  # G untouched
    assert any(not torch.equal(a, b) for a, b in zip(Q0, D.q_head.parameters()))  # Q learns
    # The generator step with only the info term still moves G (it makes c recoverable).
    G1 = [p.clone() for p in G.parameters()]
    infogan.generator_step(parts, D, G, tG, info_weight=1.0)
    assert any(not torch.equal(a, b) for a, b in zip(G1, G.parameters()))


def test_discriminator_step_logs_by_hand():
    # The logged values are the losses of the nets *before* the update, computed by hand.
    parts, X = _parts_and_reals(1)
    G, D = _nets()
    z, cat, cont = parts
    with torch.no_grad():  # a copy of the same nets, in training mode like the step
        G2, D2 = _nets()
        fake = G2(infogan.make_latent(z, cat, cont))
        real_logit, real_cat, _ = D2.forward_all(X)
        fake_logit, fake_cat, fake_mu = D2.forward_all(fake)
        info = infogan.info_loss(fake_cat, fake_mu, cat, cont, 0.1)
        gan = (torch.nn.functional.softplus(-real_logit).mean()
               + torch.nn.functional.softplus(fake_logit).mean())  # fmt: skip
        mi_real = infogan.real_code_information(real_cat)["mi"]
    out = infogan.discriminator_step(X, parts, D, G, torch.optim.SGD(D.parameters(), lr=0.1),
                                     info_weight=2.0)  # fmt: skip
    assert float(out["loss_D"]) == pytest.approx(float(gan + 2.0 * info["loss"]), rel=1e-5)
    assert float(out["mi_cat"]) == pytest.approx(float(info["mi_cat"]), rel=1e-5)
    assert float(out["mi_real"]) == pytest.approx(float(mi_real), rel=1e-5)
    assert float(out["D_real"]) == pytest.approx(float(torch.sigmoid(real_logit).mean()), 1e-5)
    assert all(v.ndim == 0 and not v.requires_grad for v in out.values())
    assert "cluster_ce" not in out


def test_cluster_anchor_trains_q_on_the_real_digits_codes():
    parts, X = _parts_and_reals(4)
    codes = torch.arange(len(X)) % infogan.N_CAT
    q_after = {}
    for w in (0.0, 1.0):
        G, D = _nets()
        with torch.no_grad():
            expected = torch.nn.functional.cross_entropy(D.forward_all(X)[1], codes)
        out = infogan.discriminator_step(X, parts, D, G, torch.optim.SGD(D.parameters(), lr=0.1),
                                         real_codes=codes, cluster_weight=w)  # fmt: skip
        assert float(out["cluster_ce"]) == pytest.approx(float(expected), rel=1e-5)
        q_after[w] = [p.clone() for p in D.q_head.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(q_after[0.0], q_after[1.0]))


def test_steps_on_meta_device_stay_on_it():
    # Any CPU tensor created inside the steps (or a host sync such as .item()) fails on meta.
    G, D = (net.to("meta") for net in _nets())
    tD, tG = torch.optim.Adam(D.parameters()), torch.optim.Adam(G.parameters())
    parts, X = _parts_and_reals(0)
    parts = tuple(t.to("meta") for t in parts)
    codes = torch.arange(8, device="meta") % 10
    out = infogan.discriminator_step(X.to("meta"), parts, D, G, tD, real_codes=codes)
    out |= infogan.generator_step(parts, D, G, tG)
    cat, cont = infogan.sample_codes(8, generator=torch.Generator(), device="meta")
    assert cat.device.type == "meta" and cont.device.type == "meta"
    assert set(out) == {"loss_D", "D_real", "D_fake", "mi_cat", "info_cont", "mi_real",
                        "cluster_ce", "loss_G"}  # fmt: skip
    assert all(v.device.type == "meta" and v.shape == () for v in out.values())


def test_sheets_and_samples_on_meta_device_stay_on_it():
    G = _nets()[0].to("meta").eval()
    assert infogan_eval.category_sheet(G, per_row=3).device.type == "meta"
    assert infogan_eval.continuous_sweep(G, 1, torch.linspace(-2, 2, 5)).device.type == "meta"
    images, codes = infogan_eval.sample_per_code(G, per_code=2)
    assert images.device.type == "meta" and images.shape == (20, 1, 28, 28)
    assert torch.equal(codes, torch.arange(10).repeat_interleave(2))
    # Q as a classifier of real (CPU) digits runs on D's device.
    D = _nets()[1].to("meta").train()
    codes = infogan_eval.q_codes(D, torch.zeros(7, 1, 28, 28), batch_size=3)
    assert codes.device.type == "meta" and codes.shape == (7,) and D.training


def test_sheet_and_sweep_layout():
    G = _nets()[0].eval()
    sheet = infogan_eval.category_sheet(G, per_row=3, cont=(0.5, -0.5), seed=2)
    # Row k, column j: category k with the j-th noise vector from the seed.
    z = torch.rand(3, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    for k in (0, 7):
        with torch.no_grad():
            row = G.generate(z, torch.full((3,), k), torch.tensor([[0.5, -0.5]]).expand(3, 2))
        assert torch.allclose(sheet[3 * k : 3 * k + 3], row, atol=1e-6)
    sweep = infogan_eval.continuous_sweep(G, code=1, values=torch.linspace(-2, 2, 5), cat=4)
    z0 = torch.rand(1, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cont = torch.stack([torch.zeros(5), torch.linspace(-2, 2, 5)], 1)
    with torch.no_grad():
        expected = G.generate(z0.expand(5, 8), torch.full((5,), 4), cont)
    assert torch.allclose(sweep, expected, atol=1e-6)
    assert infogan_eval.continuous_sweep(G, 0, torch.zeros(2)).shape == (20, 1, 28, 28)
    with pytest.raises(ValueError, match="Unknown continuous code 2. Allowed values: 0, 1"):
        infogan_eval.continuous_sweep(G, code=2, values=torch.zeros(2))
    with pytest.raises(ValueError, match="Unknown category 10"):
        infogan_eval.continuous_sweep(G, code=0, values=torch.zeros(2), cat=10)


def test_code_widget_render_and_errors():
    from course_lib.widgets import InfoGANCodeWidget, render_infogan_codes

    G, _ = _nets()
    G.eval()
    out = render_infogan_codes(G, category=3, c1=-2.0, c2=1.5, num_images=4)
    assert out["images"].shape == (4, 1, 28, 28)
    assert torch.equal(out["latent"][:, 8:18].argmax(1), torch.full((4,), 3))
    assert torch.allclose(out["latent"][:, 18:], torch.tensor([[-2.0, 1.5]]).expand(4, 2))
    with pytest.raises(ValueError, match="Unknown category 10. Allowed values: 0, 1"):
        render_infogan_codes(G, category=10, c1=0.0, c2=0.0)
    with pytest.raises(ValueError, match=r"\[-2.0, 2.0\]"):
        render_infogan_codes(G, category=1, c1=3.0, c2=0.0)
    w = InfoGANCodeWidget(G, num_images=4)
    w.category.value = 7
    assert torch.equal(w.result["latent"][:, 8:18].argmax(1), torch.full((4,), 7))


class _OracleG(torch.nn.Module):
    """A 'generator' that draws real test digits: code k -> digit perm[k] (known answer)."""

    latent_dim, n_cont = 4, 2

    def __init__(self, perm):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.perm = torch.tensor(perm)
        self.X, self.y = load_images("mnist5k", "test")

    def forward(self, latent):
        digits = self.perm[latent[:, 4:14].argmax(1)]
        idx = torch.stack([(self.y == d).nonzero()[i % 50, 0] for i, d in enumerate(digits)])
        return self.X[idx]


def test_code_accuracy_recovers_a_known_permutation():
    perm = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5]
    out = infogan_eval.code_accuracy(_OracleG(perm), per_code=20)
    assert out["mapping"] == perm  # the Hungarian step undoes the permutation
    assert out["accuracy"] >= 0.95  # the classifier's own accuracy on real digits
    assert out["confusion"].sum() == 200 and out["confusion"].shape == (10, 10)
    with pytest.raises(ValueError, match="must differ"):
        infogan_eval.code_accuracy(_OracleG(perm), per_code=2, seed=5, fit_seed=5)


class _RandomDigitG(_OracleG):
    """Ignores its code: the noise z picks the digit (chance agreement is 10%)."""

    def forward(self, latent):
        digits = ((latent[:, 0] + 1) * 5).long().clamp(0, 9)
        nth = ((latent[:, 1] + 1) * 25).long().clamp(0, 49)
        idx = torch.stack([(self.y == d).nonzero()[i, 0] for d, i in zip(digits, nth)])
        return self.X[idx]


def test_code_accuracy_fits_the_mapping_on_other_samples():
    # A code that means nothing: fitted on the scored digits, the best mapping finds chance
    # agreement (0.215 here); fitted on another set and then scored, it is back near 10%.
    out = infogan_eval.code_accuracy(_RandomDigitG(list(range(10))), per_code=20)
    images, cat = infogan_eval.sample_per_code(_RandomDigitG(list(range(10))), 20, seed=123)
    in_sample = dc.match_accuracy(cat, infogan_eval._classified(images))["accuracy"]
    assert in_sample == pytest.approx(0.215) and out["accuracy"] == pytest.approx(0.095)
    assert out["fit_accuracy"] == pytest.approx(0.21)  # its own fit set flatters it too


class _HeldOracleG(_OracleG):
    """Code k draws the held-half training digits of class perm[k], in order (or only the
    first one of them, ``prototype=True``): code_recall's real-data value by construction."""

    def __init__(self, perm, prototype=False):
        super().__init__(perm)
        self.X, self.y = load_images("mnist5k", "train")
        self.held = infogan_eval.reference_split(self.y)[1]
        self.prototype = prototype

    def forward(self, latent):
        codes = latent[:, 4:14].argmax(1)
        m = len(self.held[0])
        nth = torch.zeros_like(codes) if self.prototype else torch.arange(len(codes)) % m
        return self.X[torch.stack([self.held[self.perm[c]][i] for c, i in zip(codes, nth)])]


def test_code_recall_real_value_prototypes_and_wrong_classes():
    perm = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5]
    out = infogan_eval.code_recall(_HeldOracleG(perm), perm)
    # Real digits as the "generator": each code scores exactly its class's real value.
    assert out["m"] == 225 and out["k"] == 3
    assert out["per_code"] == [out["real_per_digit"][d] for d in perm]
    assert out["recall"] == pytest.approx(out["real_recall"]) and 0.5 < out["real_recall"] < 1
    # One prototype per code: k-NN balls of radius 0 hold no real digit.
    collapsed = infogan_eval.code_recall(_HeldOracleG(perm, prototype=True), perm)
    assert collapsed["per_code"] == [0.0] * 10 and collapsed["real_recall"] == out["real_recall"]
    # The right digits under the wrong mapping: the code's balls miss the other class.
    wrong = infogan_eval.code_recall(_HeldOracleG(perm), perm[1:] + perm[:1])
    assert wrong["recall"] < 0.1 * out["recall"]
    with pytest.raises(ValueError, match="permutation"):
        infogan_eval.code_recall(_HeldOracleG(perm), [0] * 10)


def test_reference_split_halves_each_class():
    y = torch.arange(10).repeat_interleave(9)  # 9 digits per class -> halves of 4
    reference, held = infogan_eval.reference_split(y)
    for d in range(10):
        both = torch.cat([reference[d], held[d]])
        assert len(reference[d]) == len(held[d]) == 4 and len(set(both.tolist())) == 8
        assert (y[both] == d).all()
    with pytest.raises(ValueError, match="at least 8 digits"):
        infogan_eval.reference_split(torch.arange(10).repeat_interleave(7))


class _ClassifierD(torch.nn.Module):
    """A 'discriminator' whose Q head is the course classifier, digit d filed under code
    perm[d]: as a classifier it is exactly as good as the course classifier."""

    def __init__(self, perm):
        super().__init__()
        from course_lib.metrics import get_classifier

        self.net, self.perm = get_classifier(), torch.tensor(perm)

    def forward_all(self, X):
        logits = self.net(X)
        cat = torch.empty_like(logits)
        cat[:, self.perm] = logits
        return logits[:, 0], cat, torch.zeros(len(X), 2)


def test_q_test_accuracy_fits_on_training_digits_and_scores_test_digits():
    from course_lib.metrics import classifier_probs

    perm = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5]
    X_te, y_te = load_images("mnist5k", "test")
    out = infogan_eval.q_test_accuracy(_ClassifierD(perm))
    expected = float((classifier_probs(X_te).argmax(1) == y_te).double().mean())
    assert out["accuracy"] == pytest.approx(expected, abs=1e-12) and expected > 0.95
    assert out["error"] == pytest.approx(1 - expected)
    assert [out["mapping"][c] for c in perm] == list(range(10))  # code perm[d] -> digit d
    assert out["confusion"].sum() == 500 and out["fit_accuracy"] > 0.95
    # The mapping comes from the training digits: relabelled test digits score near 0
    # (a mapping refitted on the test digits would undo the relabelling).
    shifted = infogan_eval.q_test_accuracy(_ClassifierD(perm), test=(X_te, (y_te + 1) % 10))
    assert shifted["accuracy"] < 0.02 and shifted["mapping"] == out["mapping"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_images("mnist5k", "train")  # sorted by digit: take a seeded random subset
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))[:512]
    return X[idx], y[idx]


TINY = dict(batch_size=16, latent_dim=8, hidden=32, channels=4, lr_G=2e-3, progress=False)


def test_train_infogan_is_seeded_and_leaves_the_global_rng_alone(digits):
    X, _ = digits
    state = torch.get_rng_state()
    (G1, D1), h1 = infogan.train_infogan(X, 3, seed=5, **TINY)
    assert torch.equal(torch.get_rng_state(), state)  # no reseeding as a side effect
    (G2, _), h2 = infogan.train_infogan(X, 3, seed=5, **TINY)
    (G3, _), h3 = infogan.train_infogan(X, 3, seed=6, **TINY)
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(G1.parameters(), G2.parameters()))
    assert h1["loss_D"] != h3["loss_D"]
    assert not G1.training and not D1.training and h1["step"] == [3]


def test_train_infogan_learns_the_code_and_the_anchor(digits):
    # Behaviour over 150 steps of tiny nets: the bound on I(c; x) rises from about 0.3 nats
    # (measured 0.28 -> 1.07); with clusters (here the true labels) Q's cross-entropy
    # against them falls (measured 2.18 -> 1.81).
    X, y = digits
    _, plain = infogan.train_infogan(X, 150, **TINY)
    assert plain["mi_cat"][-1] > plain["mi_cat"][0] + 0.4 and "cluster_ce" not in plain
    _, anchored = infogan.train_infogan(X, 150, clusters=y, **TINY)
    assert anchored["cluster_ce"][-1] < anchored["cluster_ce"][0] - 0.2
    assert anchored["step"] == [50, 100, 150]


def test_train_infogan_input_checks(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2 \* x - 1"):
        infogan.train_infogan((X + 1) / 2, 1, **TINY)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        infogan.train_infogan(X[:, :, :14], 1, **TINY)
    with pytest.raises(ValueError, match="one code per digit"):
        infogan.train_infogan(X, 1, clusters=y[:10], **TINY)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        infogan.train_infogan(X, 1, clusters=y + 1, **TINY)
    with pytest.raises(ValueError, match="cluster_weight must be"):
        infogan.train_infogan(X, 1, clusters=y, cluster_weight=-1.0, **TINY)
    # The anchor needs every digit's code, so the data must be the whole set as a tensor.
    with pytest.raises(ValueError, match="clusters need the whole training set as a tensor"):
        infogan.train_infogan(iter([X[:16]]), 1, clusters=y, **TINY)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):  # an iterator's first batch is checked
        infogan.train_infogan(iter([(X[:16] + 1) / 2]), 1, **TINY)


def test_train_infogan_takes_a_batch_iterator(digits):
    X, _ = digits
    stream = batches(X, 16, generator=torch.Generator().manual_seed(1))
    (G, _), h = infogan.train_infogan(stream, 3, seed=5, **TINY)
    assert h["step"] == [3] and not G.training
    # The tensor path shuffles with the trainer's own generator, so the runs differ.
    _, h_tensor = infogan.train_infogan(X, 3, seed=5, **TINY)
    assert h["loss_D"] != h_tensor["loss_D"]
    # A stream of one fixed batch: the same stream gives the same run.
    _, h1 = infogan.train_infogan(itertools.repeat(X[:8]), 3, seed=5, **TINY)
    _, h2 = infogan.train_infogan(itertools.repeat(X[:8]), 3, seed=5, **TINY)
    assert h1 == h2
    with pytest.raises(ValueError, match="ran out of batches"):
        infogan.train_infogan(iter([X[:16], X[16:32]]), 3, **TINY)


def test_train_infogan_bf16_is_the_trainers_switch(digits):
    # The steps do not hard-wire autocast: bf16=True turns it on (here on the CPU), while
    # the default (None: CUDA only) and False are the same fp32 run on a CPU.
    X, _ = digits
    _, h_default = infogan.train_infogan(X, 2, seed=1, **TINY)
    _, h_fp32 = infogan.train_infogan(X, 2, seed=1, bf16=False, **TINY)
    _, h_bf16 = infogan.train_infogan(X, 2, seed=1, bf16=True, **TINY)
    assert h_default == h_fp32
    assert h_bf16["loss_D"] != h_fp32["loss_D"]
    assert h_bf16["loss_D"][0] == pytest.approx(h_fp32["loss_D"][0], rel=0.05)
