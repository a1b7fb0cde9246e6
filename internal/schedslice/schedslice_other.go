//go:build !linux

package schedslice

import (
	"context"
	"time"
)

func start(context.Context, time.Duration) error { return ErrUnsupported }

func of(int) (time.Duration, error) { return 0, ErrUnsupported }

func supported() error { return ErrUnsupported }

func slices(int) (map[int]time.Duration, error) { return nil, ErrUnsupported }
