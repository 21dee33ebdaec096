package gitlabemu

import (
	"sort"
	"strconv"
	"time"
)

// The background work GitLab does after answering a deletion: Sidekiq's
// DeleteUserWorker after DELETE /users/:id, the purge of groups marked for
// deletion once the retention period ends. It is applied lazily, when a request
// or an inspection could observe it.

// deletionScheduledInfix is what Groups::MarkForDeletionService appends to a
// group's name and path, with its id (app/services/groups/
// mark_for_deletion_service.rb, rename_group_path_upon_deletion_scheduling).
const deletionScheduledInfix = "-deletion_scheduled-"

// settleLocked runs the deletions that are due.
func (s *Server) settleLocked() {
	now := s.now()
	for id, due := range s.userDeletions {
		if !due.IsZero() && !now.Before(due) {
			s.removeUserLocked(id)
		}
	}
	for _, g := range s.sortedGroupsLocked() {
		if g.MarkedForDeletionOn != nil && !now.Before(g.MarkedForDeletionOn.Add(s.opts.GroupRetention)) {
			s.dropGroupLocked(g.ID)
		}
	}
}

// scheduleUserDeletionLocked is User#delete_async: the worker removes the user
// later (UserDeletionDelay), never (UserDeletionStalls), or by the next request.
func (s *Server) scheduleUserDeletionLocked(id int) {
	switch {
	case s.opts.UserDeletionStalls:
		s.userDeletions[id] = time.Time{}
	case s.opts.UserDeletionDelay > 0:
		if _, ok := s.userDeletions[id]; !ok {
			s.userDeletions[id] = s.now().Add(s.opts.UserDeletionDelay)
		}
	default:
		s.removeUserLocked(id)
	}
}

// removeUserLocked is Users::DestroyService: the user, its tokens and its
// memberships go (its contributions would move to the ghost user).
func (s *Server) removeUserLocked(id int) {
	delete(s.userDeletions, id)
	delete(s.users, id)
	s.sorted = nil
	for tok, te := range s.tokens {
		if te.userID == id {
			delete(s.tokens, tok)
		}
	}
	for _, gr := range s.groups {
		gr.Members = removeMember(gr.Members, id)
	}
}

// dropGroupLocked removes a group with its subgroups and projects.
func (s *Server) dropGroupLocked(id int) {
	for _, child := range s.sortedGroupsLocked() {
		if child.ParentID == id {
			s.dropGroupLocked(child.ID)
		}
	}
	for pid, p := range s.projects {
		if p.NamespaceID == id {
			delete(s.projects, pid)
		}
	}
	delete(s.groups, id)
}

// markGroupForDeletionLocked is Groups::MarkForDeletionService: the deletion is
// scheduled and the group renamed, freeing its name and path.
func (s *Server) markGroupForDeletionLocked(g *GroupState) {
	now := s.now()
	g.MarkedForDeletionOn = &now
	suffix := deletionScheduledInfix + strconv.Itoa(g.ID)
	g.Name += suffix
	g.Path += suffix
}

// RunUserDeletions finishes every pending user deletion now, stalled ones too.
func (s *Server) RunUserDeletions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.userDeletions {
		s.removeUserLocked(id)
	}
}

// PendingUserDeletions lists the users DELETEd whose worker has not run yet.
func (s *Server) PendingUserDeletions() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	out := make([]int, 0, len(s.userDeletions))
	for id := range s.userDeletions {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

// RunGroupDeletions ends the retention period of every group marked for
// deletion: they are removed now.
func (s *Server) RunGroupDeletions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.sortedGroupsLocked() {
		if g.MarkedForDeletionOn != nil {
			s.dropGroupLocked(g.ID)
		}
	}
}
