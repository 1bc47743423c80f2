package api

import (
	"context"
	"path"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/task"
	"github.com/vireo-project/vireo/internal/vim"
)

// defaultDiskCapacityKB is the capacity of a disk created without one.
const defaultDiskCapacityKB = 10 << 20 // 10 GB

func (s *Service) registerVirtualDiskManager(t *soap.Table) {
	soap.Register(t, "VirtualDiskManager", "CreateVirtualDisk_Task", s.createVirtualDisk)
	soap.Register(t, "VirtualDiskManager", "DeleteVirtualDisk_Task", s.deleteVirtualDisk)
	soap.Register(t, "VirtualDiskManager", "CopyVirtualDisk_Task", s.copyVirtualDisk)
	soap.Register(t, "VirtualDiskManager", "MoveVirtualDisk_Task", s.moveVirtualDisk)
}

func newVirtualDiskManager() mo.Reference {
	m := &mo.VirtualDiskManager{}
	m.Self = VirtualDiskMgrRef
	return m
}

// diskPath parses the datastore path of a virtual disk: a .vmdk file.
func diskPath(name string) (filePath, error) {
	p, err := parseFilePath(name)
	if err != nil {
		return p, err
	}
	if !strings.EqualFold(path.Ext(p.Path), ".vmdk") {
		return p, vim.NewFault(&types.InvalidDatastorePath{InvalidDatastore: types.InvalidDatastore{Name: p.Datastore}, DatastorePath: name},
			"Invalid virtual disk path '%s': a virtual disk's name ends in .vmdk.", name)
	}
	return p, nil
}

func (s *Service) createVirtualDisk(ctx *soap.Context, req *types.CreateVirtualDisk_Task) (any, error) {
	p, err := diskPath(req.Name)
	if err != nil {
		return nil, err
	}
	f, err := s.datastoreFiles(req.Datacenter, p.Datastore)
	if err != nil {
		return nil, err
	}
	capacity := int64(defaultDiskCapacityKB)
	if fb, ok := req.Spec.(*types.FileBackedVirtualDiskSpec); ok && fb.CapacityKb > 0 {
		capacity = fb.CapacityKb
	}
	ref, err := s.tasks.Start(ctx, task.Spec{Entity: f.ds.Self, DescriptionID: "VirtualDiskManager.createVirtualDisk", User: ctx.UserName()},
		func(ctx context.Context, _ *task.Task) (types.AnyType, error) {
			if err := f.files.CreateDisk(ctx, p.String(), capacity*1024); err != nil {
				return nil, fileFault(err, p)
			}
			return p.String(), nil
		})
	if err != nil {
		return nil, err
	}
	return &types.CreateVirtualDisk_TaskResponse{Returnval: ref}, nil
}

func (s *Service) deleteVirtualDisk(ctx *soap.Context, req *types.DeleteVirtualDisk_Task) (any, error) {
	p, err := diskPath(req.Name)
	if err != nil {
		return nil, err
	}
	f, err := s.datastoreFiles(req.Datacenter, p.Datastore)
	if err != nil {
		return nil, err
	}
	ref, err := s.fileTask(ctx, f.ds.Self, "VirtualDiskManager.deleteVirtualDisk", func(ctx context.Context) error {
		if fi, err := f.files.Stat(ctx, p.String()); err != nil || fi.IsDir {
			return vim.NewFault(&types.FileNotFound{FileFault: types.FileFault{File: p.String()}}, "File %s was not found", p)
		}
		return deleteFile(ctx, f, p)
	})
	if err != nil {
		return nil, err
	}
	return &types.DeleteVirtualDisk_TaskResponse{Returnval: ref}, nil
}

func (s *Service) copyVirtualDisk(ctx *soap.Context, req *types.CopyVirtualDisk_Task) (any, error) {
	if err := checkDiskPaths(req.SourceName, req.DestName); err != nil {
		return nil, err
	}
	ref, err := s.transferFile(ctx, "VirtualDiskManager.copyVirtualDisk", req.SourceName, req.SourceDatacenter,
		req.DestName, req.DestDatacenter, isTrue(req.Force), false)
	if err != nil {
		return nil, err
	}
	return &types.CopyVirtualDisk_TaskResponse{Returnval: ref}, nil
}

func (s *Service) moveVirtualDisk(ctx *soap.Context, req *types.MoveVirtualDisk_Task) (any, error) {
	if err := checkDiskPaths(req.SourceName, req.DestName); err != nil {
		return nil, err
	}
	ref, err := s.transferFile(ctx, "VirtualDiskManager.moveVirtualDisk", req.SourceName, req.SourceDatacenter,
		req.DestName, req.DestDatacenter, isTrue(req.Force), true)
	if err != nil {
		return nil, err
	}
	return &types.MoveVirtualDisk_TaskResponse{Returnval: ref}, nil
}

func checkDiskPaths(names ...string) error {
	for _, n := range names {
		if _, err := diskPath(n); err != nil {
			return err
		}
	}
	return nil
}
