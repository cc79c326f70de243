package firmware

// CompareVersions compares two firmware versions by their numeric dotted
// core, semver-ish: "4.10.0" > "4.9.2", "v2.8" = "2.8.0". What follows the
// core ("-mod", "+build", "rc1") is ignored: a pre-release or a modified
// build of the same core is neither newer nor older. ok is false when
// either version has no numeric core, so no verdict is possible.
func CompareVersions(a, b string) (cmp int, ok bool) {
	pa, na := versionCore(a)
	pb, nb := versionCore(b)
	if na == 0 || nb == 0 {
		return 0, false
	}
	for i := range max(na, nb) {
		var x, y uint64
		if i < na {
			x = pa[i]
		}
		if i < nb {
			y = pb[i]
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
	}
	return 0, true
}

const maxVersionParts = 6

// versionCore parses the leading dotted numbers of v ("v" prefix allowed)
// into at most maxVersionParts components and returns how many it found.
func versionCore(v string) (parts [maxVersionParts]uint64, n int) {
	i := 0
	if i < len(v) && (v[i] == 'v' || v[i] == 'V') {
		i++
	}
	for n < maxVersionParts {
		start := i
		var x uint64
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			if x < 1<<60 {
				x = x*10 + uint64(v[i]-'0')
			}
			i++
		}
		if i == start {
			break
		}
		parts[n] = x
		n++
		if i >= len(v) || v[i] != '.' {
			break
		}
		i++
	}
	return parts, n
}
