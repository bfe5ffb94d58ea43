package match

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
)

// TrainReport says how estimation went.
type TrainReport struct {
	RandomPairs int     `json:"random_pairs"` // pairs u was estimated from
	Pairs       int     `json:"pairs"`        // candidate pairs m was estimated from
	Iterations  int     `json:"iterations"`
	Converged   bool    `json:"converged"`
	MatchShare  float64 `json:"match_share"` // estimated share of matches among the candidate pairs (lambda)
}

// minLevelPairs is how many candidate pairs must show a level for EM to
// estimate its m: a level the training data never or hardly shows (Han
// homophones in a Latin-name index, checksum conflicts where no number
// carries a checksum) keeps its start m instead of collapsing to zero,
// which would make it evidence against a match everywhere else.
const minLevelPairs = 20

// fixedU reports the levels whose u is not a rate over random pairs and
// so is never estimated: id.equal is a per-record rate (divided by the
// index size when scoring), and the u of name equality and variants is
// replaced by the name's term frequency when scoring (only their ratio,
// kept from the start weights, matters).
func fixedU(field, level string) bool {
	return (field == "id" && level == LevelEqual) ||
		(field == "name" && (level == LevelEqual || level == LevelVariant))
}

// EstimateU estimates u for every level from the comparison patterns of
// random record pairs of different people (Splink's
// estimate_u_using_random_sampling): a level seen c times among the n
// random pairs where the field is present on both sides gets u = c/n. A
// level seen fewer than minLevelPairs times keeps its start value — too
// rare to estimate, or not applicable to this data (no checksum numbers,
// no Han names) — and so do the levels fixedU names.
func EstimateU(random []Pattern, start Weights) (Weights, error) {
	if len(random) == 0 {
		return Weights{}, errors.New("estimate u: no random pairs")
	}
	if err := start.Validate(); err != nil {
		return Weights{}, err
	}
	w := cloneWeights(start)
	count := map[string]map[string]float64{}
	total := map[string]float64{}
	for _, p := range random {
		ls := p.levels()
		for i, f := range Fields {
			if _, ok := w.Levels[f][ls[i]]; !ok {
				continue // missing or placeholder: no evidence either way
			}
			if count[f] == nil {
				count[f] = map[string]float64{}
			}
			count[f][ls[i]]++
			total[f]++
		}
	}
	for f, levels := range w.Levels {
		for l, mu := range levels {
			if fixedU(f, l) || count[f][l] < minLevelPairs {
				continue
			}
			levels[l] = MU{mu.M, math.Min(1-1e-6, count[f][l]/total[f])}
		}
	}
	return w, w.Validate()
}

// Train estimates m for every level, and the share of matches, with
// expectation-maximization over the comparison patterns of candidate
// pairs (Fellegi-Sunter under conditional independence; Winkler 1988),
// holding u at start's values: candidate pairs come from blocking, which
// selects pairs that agree, so the u they would suggest is biased — u
// comes from random pairs (EstimateU), as in Splink. Missing and
// placeholder levels carry no evidence and are skipped; levels fewer than
// minLevelPairs pairs show keep their start m. m is clamped to
// [1e-6, 1-1e-6]; the term-frequency and prior parameters are kept. The
// version is "fs-em-" and a hash of the levels.
func Train(patterns []Pattern, start Weights, maxIter int) (Weights, TrainReport, error) {
	if len(patterns) == 0 {
		return Weights{}, TrainReport{}, errors.New("train: no pairs")
	}
	if err := start.Validate(); err != nil {
		return Weights{}, TrainReport{}, err
	}
	w := cloneWeights(start)
	lambda := 0.1
	rep := TrainReport{Pairs: len(patterns)}
	const lo, hi = 1e-6, 1 - 1e-6
	clamp := func(x float64) float64 { return math.Min(hi, math.Max(lo, x)) }
	// Levels seen too rarely keep their start m.
	seen := map[string]map[string]int{}
	for _, p := range patterns {
		ls := p.levels()
		for i, f := range Fields {
			if seen[f] == nil {
				seen[f] = map[string]int{}
			}
			seen[f][ls[i]]++
		}
	}
	for it := 0; it < maxIter; it++ {
		rep.Iterations = it + 1
		mSum := map[string]map[string]float64{}
		mTot := map[string]float64{}
		var gSum float64
		for _, p := range patterns {
			ls := p.levels()
			lm, lu := math.Log(lambda), math.Log(1-lambda)
			for i, f := range Fields {
				if mu, ok := w.Levels[f][ls[i]]; ok {
					lm += math.Log(mu.M)
					lu += math.Log(mu.U)
				}
			}
			g := 1 / (1 + math.Exp(lu-lm)) // P(match | pattern)
			gSum += g
			for i, f := range Fields {
				if _, ok := w.Levels[f][ls[i]]; !ok {
					continue
				}
				if mSum[f] == nil {
					mSum[f] = map[string]float64{}
				}
				mSum[f][ls[i]] += g
				mTot[f] += g
			}
		}
		newLambda := clamp(gSum / float64(len(patterns)))
		delta := math.Abs(newLambda - lambda)
		lambda = newLambda
		for f, levels := range w.Levels {
			if mTot[f] <= 0 {
				continue
			}
			for l, mu := range levels {
				if seen[f][l] < minLevelPairs {
					continue
				}
				nm := clamp(mSum[f][l] / mTot[f])
				delta = math.Max(delta, math.Abs(nm-mu.M))
				levels[l] = MU{nm, mu.U}
			}
		}
		if delta < 1e-6 {
			rep.Converged = true
			break
		}
	}
	rep.MatchShare = lambda
	b, _ := json.Marshal(w.Levels)
	sum := sha256.Sum256(b)
	w.Version = "fs-em-" + hex.EncodeToString(sum[:6])
	return w, rep, w.Validate()
}

// levels are p's levels in Fields order.
func (p Pattern) levels() [4]string { return [4]string{p.ID, p.Name, p.BirthDate, p.Sex} }

func cloneWeights(w Weights) Weights {
	out := w
	out.Levels = map[string]map[string]MU{}
	for f, levels := range w.Levels {
		out.Levels[f] = map[string]MU{}
		for l, mu := range levels {
			out.Levels[f][l] = mu
		}
	}
	return out
}
