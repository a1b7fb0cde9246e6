package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ImageRepo is the local repository name of the mailsim image.
const ImageRepo = "maildrill-mailsim"

// BuildOptions say where the image's binary comes from.
type BuildOptions struct {
	// RepoDir is the maildrill module root; default: found by walking up
	// from the working directory, else the running executable if it is
	// statically linked.
	RepoDir string
	// Log receives the docker build output; nil is quiet.
	Log io.Writer
}

// Image is a built (or found) mailsim image.
type Image struct {
	Tag    string
	Cached bool          // the tag already existed: no docker build ran
	Took   time.Duration // binary build + hash + docker build
}

// BuildImage builds the static binary and, unless an image with the same
// content hash exists, the FROM-scratch image. The tag is
// maildrill-mailsim:<first 16 hex of sha256(binary, Dockerfile)>: a changed
// source gives a changed binary and a new image; an unchanged one costs a
// cached go build and a docker image inspect.
func BuildImage(ctx context.Context, opts BuildOptions) (Image, error) {
	t0 := time.Now()
	bin, dockerfile, cleanup, err := binary(ctx, opts.RepoDir)
	if err != nil {
		return Image{}, err
	}
	defer cleanup()
	h := sha256.New()
	h.Write(bin)
	h.Write(dockerfile)
	tag := ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	cli, err := dockerClient(ctx)
	if err != nil {
		return Image{}, err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return Image{Tag: tag, Cached: true, Took: time.Since(t0)}, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
		mode int64
	}{{"Dockerfile", dockerfile, 0o644}, {"maildrill", bin, 0o755}, {"certs/.keep", nil, 0o644}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)})
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		return Image{}, err
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags: []string{tag, ImageRepo + ":latest"}, Remove: true, ForceRemove: true,
		Labels: map[string]string{LabelManaged: "image"},
	})
	if err != nil {
		return Image{}, fmt.Errorf("container: docker build: %w", err)
	}
	defer res.Body.Close()
	// The build stream is JSON messages; an "error" field means failure.
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return Image{}, fmt.Errorf("container: docker build: %w", err)
		}
		if m.Error != "" {
			return Image{}, fmt.Errorf("container: docker build: %s", m.Error)
		}
		if opts.Log != nil && m.Stream != "" {
			io.WriteString(opts.Log, m.Stream)
		}
	}
	prune(ctx, cli, tag)
	return Image{Tag: tag, Took: time.Since(t0)}, nil
}

// keepImages is how many content-hash tags survive a new build: every
// source change makes a new ~20 MB image, older ones are removed.
const keepImages = 3

// prune removes all but the newest keepImages content-hash tags (never
// latest, compose, or an image a container still uses: errors ignored).
func prune(ctx context.Context, cli *client.Client, keep string) {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", ImageRepo)})
	if err != nil {
		return
	}
	imgs := res.Items
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	n := 0
	for _, im := range imgs {
		for _, ref := range im.RepoTags {
			_, t, _ := strings.Cut(ref, ":")
			if ref == keep || t == "latest" || t == "compose" || len(t) != 16 {
				continue
			}
			if n++; n < keepImages {
				continue
			}
			cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
		}
	}
}

// binary returns the static maildrill binary and the Dockerfile.
func binary(ctx context.Context, repo string) (bin, dockerfile []byte, cleanup func(), err error) {
	cleanup = func() {}
	if repo == "" {
		repo = findRepo()
	}
	if repo != "" {
		dockerfile, err = os.ReadFile(filepath.Join(repo, "docker", "mailsim", "Dockerfile"))
		if err != nil {
			return nil, nil, cleanup, err
		}
		dir, err := os.MkdirTemp("", "maildrill-image-")
		if err != nil {
			return nil, nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		out := filepath.Join(dir, "maildrill")
		cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./cmd/maildrill")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, cleanup, fmt.Errorf("container: building the static binary: %v\n%s", err, msg)
		}
		bin, err = os.ReadFile(out)
		return bin, dockerfile, cleanup, err
	}
	// Outside the repository: use this very executable if it is static.
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, cleanup, err
	}
	if !isStatic(exe) {
		return nil, nil, cleanup, errors.New("container: no maildrill source tree here and this executable is not static; run from the repository, or build with CGO_ENABLED=0")
	}
	bin, err = os.ReadFile(exe)
	return bin, []byte(defaultDockerfile), cleanup, err
}

// defaultDockerfile mirrors docker/mailsim/Dockerfile for binaries run
// outside the repository.
const defaultDockerfile = `FROM scratch
COPY maildrill /maildrill
COPY --chown=65534:65534 certs /certs
USER 65534:65534
EXPOSE 143 993 587 25 8025
ENTRYPOINT ["/maildrill", "serve"]
`

func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// findRepo walks up from the working directory to maildrill's go.mod.
func findRepo() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/maildrill/maildrill\n") {
			if _, err := os.Stat(filepath.Join(dir, "docker", "mailsim", "Dockerfile")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
