package rules

import "time"

// Limits bound what a rule set may ask for, so a malformed or hostile rule
// file is refused at load instead of slowing or crashing the engine. Zero
// fields take the defaults.
type Limits struct {
	FileBytes      int           // one rule file, default 1 MiB
	Files          int           // rule files per source, default 256
	Rules          int           // rules in a set, default 1000
	ExprBytes      int           // one condition or macro, default 4096
	ExprNodes      int           // syntax nodes of a condition after macros and lists are expanded, default 2000
	ExprDepth      int           // nesting of a condition after expansion, default 48
	MacroDepth     int           // macros using macros, default 8
	ListItems      int           // items of one list, default 10000
	TotalListItems int           // items of all lists, default 100000
	Exceptions     int           // exceptions of one rule, default 32
	ExceptionItems int           // value tuples of one exception, default 1000
	Threshold      int           // the largest count a correlation may wait for, default 1000
	MinTimespan    time.Duration // default 1s
	MaxTimespan    time.Duration // default 31 days (first: its learn and timespan)
	TextBytes      int           // title, description, explanation, default 4096
	// Groups bounds the correlation groups one shard keeps (one per rule
	// and group_by values): the least recently used make way, counted as
	// evictions. Default 100000.
	Groups int
}

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.FileBytes, 1<<20)
	def(&l.Files, 256)
	def(&l.Rules, 1000)
	def(&l.ExprBytes, 4096)
	def(&l.ExprNodes, 2000)
	def(&l.ExprDepth, 48)
	def(&l.MacroDepth, 8)
	def(&l.ListItems, 10000)
	def(&l.TotalListItems, 100000)
	def(&l.Exceptions, 32)
	def(&l.ExceptionItems, 1000)
	def(&l.Threshold, 1000)
	def(&l.TextBytes, 4096)
	def(&l.Groups, 100000)
	if l.MinTimespan <= 0 {
		l.MinTimespan = time.Second
	}
	if l.MaxTimespan <= 0 {
		l.MaxTimespan = 31 * 24 * time.Hour
	}
	return l
}
