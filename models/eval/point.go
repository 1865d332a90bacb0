package eval

// Confusion counts row-level decisions against labels. The zero value is
// ready to use.
type Confusion struct {
	TP, FP, TN, FN uint64
}

// Add counts one row: label says the row is anomalous, alarm that the
// detector said so.
func (c *Confusion) Add(label, alarm bool) {
	switch {
	case label && alarm:
		c.TP++
	case label:
		c.FN++
	case alarm:
		c.FP++
	default:
		c.TN++
	}
}

// Merge adds o's counts to c.
func (c *Confusion) Merge(o Confusion) {
	c.TP += o.TP
	c.FP += o.FP
	c.TN += o.TN
	c.FN += o.FN
}

// Total is the number of rows counted.
func (c Confusion) Total() uint64 { return c.TP + c.FP + c.TN + c.FN }

// ratio is a/b, and 0 when b is 0 (no rows of the kind: nothing to be wrong
// about), as scikit-learn's zero_division=0.
func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Precision is TP/(TP+FP), 0 when the detector never alarmed.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), 0 when there was no anomalous row.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, 2TP/(2TP+FP+FN).
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// FAR is the false-alarm rate FP/(FP+TN): the share of normal rows alarmed.
func (c Confusion) FAR() float64 { return ratio(c.FP, c.FP+c.TN) }

// MAR is the missed-alarm rate FN/(FN+TP): the share of anomalous rows not
// alarmed. It is 1 - Recall when there are anomalous rows.
func (c Confusion) MAR() float64 { return ratio(c.FN, c.FN+c.TP) }
