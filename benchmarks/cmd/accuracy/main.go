// Command accuracy measures fiveid's matching through the real service and
// prints markdown tables — pairwise precision, recall, F1 and found recall
// (true pairs linked or waiting in review) of registration, and identify's
// outcomes — one command per figure:
//
//	go run ./benchmarks/cmd/accuracy -dataset synthetic -people 10000 -seed 20261122
//	go run ./benchmarks/cmd/accuracy -dataset synthetic -people 1500 -seed 3 -ties 40 -sweep=false
//	go run ./benchmarks/cmd/accuracy -dataset febrl4
//	go run ./benchmarks/cmd/accuracy -dataset febrl4 -train-febrl3
//	go run ./benchmarks/cmd/accuracy -dataset febrl1   (febrl2, febrl3; -train-febrl3 for 1 and 2)
//	go run ./benchmarks/cmd/accuracy -dataset fake1000
//
// The second is the accuracy gate of make test (TestAccuracyGate): it also
// lists every tie or twin that auto-linked.
//
// It runs on a fresh embedded store in a temporary directory, or on
// PostgreSQL when DATABASE_URL is set (use an empty database).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dataset := flag.String("dataset", "synthetic", "synthetic, febrl4, febrl1/2/3 (deduplication) or fake1000")
	people := flag.Int("people", 10000, "synthetic population size")
	seed := flag.Uint64("seed", benchmarks.SeedReport, "synthetic seed (1 tunes, 20261122 reports)")
	noise := flag.String("noise", "realistic", "synthetic noise: realistic (linkage-anchors.md rates) or chinese (plus pinyin-written names and lunar birthdays, assumed rates)")
	ties := flag.Int("ties", 0, "synthetic: add this many namesake ties (same name, sex and birth date) as hard cases, and list every tie or twin that auto-linked")
	sweep := flag.Bool("sweep", true, "also identify at other probable thresholds")
	train := flag.Bool("train-febrl3", false, "first estimate weights with EM on FEBRL3 (another dataset), then measure with them")
	weightsOut := flag.String("weights-out", "", "with -train-febrl3, also write the trained weights to this file")
	explain := flag.Bool("explain", false, "print the comparison patterns of queries that did not link")
	root := flag.String("root", ".", "module root (external datasets are read from ROOT/../shared/external)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "fiveid-accuracy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	def := match.DefaultThresholds()
	weights := match.DefaultWeights()
	if *train {
		w, err := trainOnFEBRL3(ctx, benchmarks.ExternalDir(*root))
		if err != nil {
			return err
		}
		weights = w
		fmt.Printf("weights %s trained with EM on FEBRL3\n\n", w.Version)
		if *weightsOut != "" {
			b, err := json.MarshalIndent(w, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(*weightsOut, append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
	}
	svc, closeFn, err := benchmarks.OpenWeights(ctx, dir, os.Getenv("DATABASE_URL"), weights, def)
	if err != nil {
		return err
	}
	defer closeFn()

	var ds benchmarks.Dataset
	var title string
	switch *dataset {
	case "synthetic":
		profile := benchmarks.Realistic
		switch *noise {
		case "realistic":
		case "chinese":
			profile = benchmarks.Chinese
		default:
			return fmt.Errorf("unknown noise profile %q", *noise)
		}
		ds = benchmarks.SyntheticWithHardCases(*seed, *people, profile, benchmarks.HardCases{Ties: *ties})
		title = fmt.Sprintf("Synthetic population: %d people, seed %d, %s noise", *people, *seed, *noise)
		if *ties > 0 {
			title += fmt.Sprintf(", plus %d namesake ties", *ties)
		}
	case "febrl4":
		recs, err := benchmarks.FEBRL4(benchmarks.ExternalDir(*root))
		if err != nil {
			return err
		}
		ds.Records, title = recs, "FEBRL4 (dataset4a + dataset4b, 5,000 true cross-file pairs)"
	case "febrl1", "febrl2", "febrl3":
		if *train && *dataset == "febrl3" {
			return errors.New("-train-febrl3 with -dataset febrl3 would measure on the training data")
		}
		n := int((*dataset)[5] - '0')
		recs, err := benchmarks.FEBRLDedupe(benchmarks.ExternalDir(*root), n)
		if err != nil {
			return err
		}
		ds.Records, title = recs, fmt.Sprintf("FEBRL dataset%d (deduplication, one system)", n)
	case "fake1000":
		recs, err := benchmarks.Fake1000(benchmarks.ExternalDir(*root))
		if err != nil {
			return err
		}
		ds.Records, title = recs, "Splink fake_1000 (no ID, no sex: name + birth date only)"
	default:
		return fmt.Errorf("unknown dataset %q", *dataset)
	}
	reg, err := benchmarks.Register(ctx, svc, ds.Records)
	if err != nil {
		return err
	}
	var ids []benchmarks.Identification
	if len(ds.Queries) > 0 {
		if err := benchmarks.CreateSystems(ctx, svc, ds.Queries); err != nil {
			return err
		}
		ths := []match.Thresholds{def}
		if *sweep {
			for _, p := range []float64{7, 13} {
				th := def // the ambiguity margin stays as configured
				th.Certain, th.Probable, th.Possible, th.ProbableWithoutID = max(def.Certain, p), p, min(def.Possible, p), max(def.ProbableWithoutID, p)
				ths = append(ths, th)
			}
		}
		for _, th := range ths {
			s := svc
			if th != def {
				other, closeOther, err := benchmarks.Reopen(ctx, dir, os.Getenv("DATABASE_URL"), th)
				if err != nil {
					return err
				}
				defer closeOther()
				s = other
			}
			id, err := benchmarks.Identify(ctx, s, reg, ds)
			if err != nil {
				return err
			}
			id.Thresholds = th
			ids = append(ids, id)
		}
	}
	fmt.Print(benchmarks.Markdown(title, reg, ids))
	if *dataset == "synthetic" && len(ids) > 0 {
		off, err := benchmarks.RegistrationOffences(ctx, svc, reg, ds)
		if err != nil {
			return err
		}
		more, err := benchmarks.IdentificationOffences(ctx, svc, reg, ds, ids[0])
		if err != nil {
			return err
		}
		off = append(off, more...)
		fmt.Printf("Ties and twins auto-linked (registration, and identify at the default thresholds): %d\n", len(off))
		for _, o := range off {
			fmt.Println(o)
		}
	}
	if *explain {
		for _, id := range ids[:min(1, len(ids))] {
			for _, w := range id.WrongLinks {
				fmt.Println(w)
			}
		}
		fmt.Println("Queries about registered people that did not auto-link, by comparison pattern (best record of the same person, default weights, no term frequency):")
		for _, l := range benchmarks.Causes(ds, 20) {
			fmt.Println(l)
		}
	}
	return nil
}

// trainOnFEBRL3 registers FEBRL3 with the default weights in a scratch
// store and estimates new weights from its candidate pairs with EM.
func trainOnFEBRL3(ctx context.Context, external string) (match.Weights, error) {
	recs, err := benchmarks.FEBRL3(external)
	if err != nil {
		return match.Weights{}, err
	}
	dir, err := os.MkdirTemp("", "fiveid-train")
	if err != nil {
		return match.Weights{}, err
	}
	defer os.RemoveAll(dir)
	svc, closeFn, err := benchmarks.Open(ctx, dir, "", match.DefaultThresholds())
	if err != nil {
		return match.Weights{}, err
	}
	defer closeFn()
	if _, err := benchmarks.Register(ctx, svc, recs); err != nil {
		return match.Weights{}, err
	}
	w, _, err := svc.Train(ctx, fiveid.Principal{Role: fiveid.RoleAdmin}, match.DefaultWeights(), fiveid.TrainOptions{})
	return w, err
}
