package target

import "syscall"

// roomyShm says whether /dev/shm is a tmpfs with 4 GiB free that this
// process may write to.
func roomyShm() bool {
	var fs syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	return syscall.Statfs("/dev/shm", &fs) == nil && int64(fs.Type) == tmpfsMagic &&
		uint64(fs.Bavail)*uint64(fs.Bsize) >= 4<<30 && syscall.Access("/dev/shm", 2) == nil
}
