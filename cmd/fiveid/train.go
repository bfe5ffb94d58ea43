package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"fiveid"
	"fiveid/match"
)

// trainCmd estimates weights from the index (u from random pairs, m with
// EM over candidate pairs) and writes a weights file the service loads
// with FIVEID_WEIGHTS.
func trainCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := newCommand("train")
	out := fs.String("out", "weights.json", "where to write the weights file")
	pairs := fs.Int("pairs", 200_000, "candidate pairs to learn from")
	iter := fs.Int("iterations", 100, "EM iterations")
	random := fs.Int("random-pairs", 1_000_000, "random pairs of different customers to estimate u from")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	return withApp(ctx, cfg, func(a *app) error {
		start := match.DefaultWeights()
		if cfg.WeightsFile != "" {
			b, err := os.ReadFile(cfg.WeightsFile)
			if err != nil {
				return err
			}
			if start, err = match.ParseWeights(b); err != nil {
				return err
			}
		}
		w, rep, err := a.svc.Train(ctx, operator, start, fiveid.TrainOptions{MaxPairs: *pairs, MaxIter: *iter, RandomPairs: *random})
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(w, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "trained weights %s written to %s (%+v)\nload them with FIVEID_WEIGHTS=%s\n", w.Version, *out, rep, *out)
		return nil
	})
}
