//go:build !linux

package nozero

func prefault([]byte) {}
