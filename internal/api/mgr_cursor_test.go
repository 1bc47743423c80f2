package api

import (
	"reflect"
	"testing"
)

func TestCursor(t *testing.T) {
	seqs := []uint64{3, 5, 8, 13}
	tests := []struct {
		name   string
		from   cursor
		next   bool
		n      int
		want   []uint64
		cursor cursor
	}{
		{"next from the start", 0, true, 2, []uint64{3, 5}, 6},
		{"next from between", 6, true, 5, []uint64{8, 13}, 14},
		{"next at the end", 14, true, 5, nil, 14},
		{"prev from the end", 14, false, 3, []uint64{13, 8, 5}, 5},
		{"prev from an item", 8, false, 5, []uint64{5, 3}, 3},
		{"prev at the start", 3, false, 5, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			var next cursor
			if tc.next {
				lo, hi, c := tc.from.readNext(seqs, tc.n)
				got, next = append(got, seqs[lo:hi]...), c
			} else {
				lo, hi, c := tc.from.readPrev(seqs, tc.n)
				for i := hi - 1; i >= lo; i-- {
					got = append(got, seqs[i])
				}
				next = c
			}
			if !reflect.DeepEqual(got, tc.want) || next != tc.cursor {
				t.Fatalf("got %v cursor %d, want %v cursor %d", got, next, tc.want, tc.cursor)
			}
		})
	}
	for _, tc := range []struct {
		page int
		want cursor
	}{{2, 8}, {0, 14}, {10, 3}} {
		if got := resetCursor(seqs, tc.page); got != tc.want {
			t.Errorf("resetCursor(page %d) = %d, want %d", tc.page, got, tc.want)
		}
	}
}
