package snapshot_test

import (
	"errors"
	"fmt"

	"millwright/models/snapshot"
)

func Example() {
	type counterState struct {
		N uint64 `cbor:"1,keyasint"`
	}
	b, err := snapshot.Marshal("counter", 2, &counterState{N: 41})
	if err != nil {
		panic(err)
	}
	kind, _ := snapshot.Kind(b)
	fmt.Println("kind:", kind)

	var s counterState
	v, err := snapshot.Unmarshal(b, "counter", 2, &s)
	fmt.Println("version:", v, "N:", s.N, "err:", err)

	// A reader that only knows version 1 refuses, and says why.
	_, err = snapshot.Unmarshal(b, "counter", 1, &s)
	fmt.Println(errors.Is(err, snapshot.ErrVersion), err)
	// Output:
	// kind: counter
	// version: 2 N: 41 err: <nil>
	// true decode counter snapshot: unknown snapshot version: version 2, newest known 1
}
