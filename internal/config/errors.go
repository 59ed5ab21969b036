package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Error is one configuration problem, positioned in its file. Line is 0 when
// the problem concerns the file as a whole.
type Error struct {
	Path string
	Line int
	Msg  string
	Err  error // underlying cause, if any
}

func (e *Error) Error() string {
	msg := e.Msg
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, msg)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Warning is a positioned remark that does not prevent start-up.
type Warning struct {
	Path string
	Line int
	Msg  string
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.Path, w.Line, w.Msg)
	}
	return fmt.Sprintf("%s: %s", w.Path, w.Msg)
}

// diag collects the errors and warnings of one file.
type diag struct {
	path  string
	errs  []*Error
	warns []Warning
}

func (d *diag) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, &Error{Path: d.path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) warnf(line int, format string, args ...any) {
	d.warns = append(d.warns, Warning{Path: d.path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// lineOrder sorts by line, whole-file remarks (line 0) last.
func lineOrder(a, b int) int {
	switch {
	case a == b:
		return 0
	case a == 0:
		return 1
	case b == 0:
		return -1
	}
	return cmp.Compare(a, b)
}

func sortErrors(es []*Error) {
	slices.SortStableFunc(es, func(a, b *Error) int { return lineOrder(a.Line, b.Line) })
}

func sortWarnings(ws []Warning) {
	slices.SortStableFunc(ws, func(a, b Warning) int { return lineOrder(a.Line, b.Line) })
}

// join turns the collected errors into one error (nil when there are none).
func join(es []*Error) error {
	if len(es) == 0 {
		return nil
	}
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Errors flattens an error returned by this package into its parts, in
// order: one element per problem.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
