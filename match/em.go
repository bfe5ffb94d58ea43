package match

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
)

// TrainReport says how EM went.
type TrainReport struct {
	Pairs      int     `json:"pairs"`
	Iterations int     `json:"iterations"`
	Converged  bool    `json:"converged"`
	MatchShare float64 `json:"match_share"` // estimated share of matches among the pairs (lambda)
}

// Train estimates m and u for every level with expectation-maximization
// over candidate-pair patterns (Fellegi-Sunter with conditional
// independence; Winkler 1988), starting from start. Missing and
// placeholder levels carry no evidence and are skipped. Probabilities are
// clamped to [1e-6, 1-1e-6]; the name term-frequency parameters are kept.
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
	levels := func(p Pattern) [4]string { return [4]string{p.ID, p.Name, p.BirthDate, p.Sex} }
	const lo, hi = 1e-6, 1 - 1e-6
	clamp := func(x float64) float64 { return math.Min(hi, math.Max(lo, x)) }
	for it := 0; it < maxIter; it++ {
		rep.Iterations = it + 1
		mSum := map[string]map[string]float64{}
		uSum := map[string]map[string]float64{}
		mTot := map[string]float64{}
		uTot := map[string]float64{}
		var gSum float64
		for _, p := range patterns {
			ls := levels(p)
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
					mSum[f], uSum[f] = map[string]float64{}, map[string]float64{}
				}
				mSum[f][ls[i]] += g
				uSum[f][ls[i]] += 1 - g
				mTot[f] += g
				uTot[f] += 1 - g
			}
		}
		newLambda := clamp(gSum / float64(len(patterns)))
		delta := math.Abs(newLambda - lambda)
		lambda = newLambda
		for f, levels := range w.Levels {
			for l, mu := range levels {
				nm, nu := mu.M, mu.U
				if mTot[f] > 0 {
					nm = clamp(mSum[f][l] / mTot[f])
				}
				if uTot[f] > 0 {
					nu = clamp(uSum[f][l] / uTot[f])
				}
				delta = math.Max(delta, math.Max(math.Abs(nm-mu.M), math.Abs(nu-mu.U)))
				levels[l] = MU{nm, nu}
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
