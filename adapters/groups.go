package adapters

// GroupSwitch is implemented by adapters whose group support depends on their
// configuration (Gitea needs an organization). A GroupAdapter that reports false
// is treated as having no groups: /Groups answers 501 and discovery leaves Groups out.
type GroupSwitch interface {
	GroupsEnabled() bool
}

// Groups returns mod as a GroupAdapter when it implements one and, if it is a
// GroupSwitch, has groups enabled; else nil.
func Groups(mod any) GroupAdapter {
	ga, ok := mod.(GroupAdapter)
	if !ok {
		return nil
	}
	if sw, ok := mod.(GroupSwitch); ok && !sw.GroupsEnabled() {
		return nil
	}
	return ga
}
